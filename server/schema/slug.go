package schema

import "math/rand/v2"

// Two-word run names, as Prefect's generate_slug(2) gives: an adjective and
// an animal.
var (
	slugAdjectives = []string{"amber", "brave", "calm", "clever", "crimson", "daring", "eager", "fancy",
		"gentle", "golden", "happy", "icy", "jolly", "keen", "lively", "lucky", "mellow", "misty",
		"noble", "olive", "proud", "quick", "quiet", "rapid", "rustic", "silver", "sleek", "smart",
		"steady", "sunny", "swift", "tidy", "vivid", "warm", "witty", "zealous"}
	slugAnimals = []string{"albatross", "badger", "beaver", "bison", "cheetah", "cougar", "crane",
		"dingo", "dolphin", "eagle", "falcon", "ferret", "gecko", "heron", "hyena", "ibis", "jackal",
		"koala", "lemur", "lynx", "marmot", "mole", "newt", "ocelot", "otter", "panda", "puffin",
		"quail", "raven", "salmon", "seal", "tapir", "toucan", "walrus", "wombat", "yak", "zebra"}
)

// GenerateSlug returns a random two-word name such as "brave-otter".
func GenerateSlug() string {
	return slugAdjectives[rand.IntN(len(slugAdjectives))] + "-" + slugAnimals[rand.IntN(len(slugAnimals))]
}
