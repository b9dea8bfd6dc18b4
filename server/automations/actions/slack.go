package actions

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Prefect's SlackWebhook block notifies through Apprise's Slack plugin;
// this is what that plugin posts to a webhook (apprise/plugins/slack.py,
// its legacy attachment format), so a Slack channel shows the same message.

// slackAppID is the Apprise asset Prefect configures.
const slackAppID = "Prefect Notifications"

// slackColors are Apprise's colors by notify type.
var slackColors = map[string]string{"info": "#3AA3E3", "success": "#3AA337", "warning": "#CACF29", "failure": "#A32037"}

var (
	slackEscapes = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	// Slack's own markup, escaped above, is put back: <!channel|desc>,
	// <@user|desc> and <url|desc>.
	slackChannel = regexp.MustCompile(`(?i)((?:<|&lt;)?[ \t]*!([^| \n]+)(?:[ \t]*\|[ \t]*(?:([^\n]+?)[ \t]*)?(?:>|&gt;)|(?:>|&gt;)))`)
	slackUser    = regexp.MustCompile(`(?i)((?:<|&lt;)?[ \t]*@([^| \n]+)(?:[ \t]*\|[ \t]*(?:([^\n]+?)[ \t]*)?(?:>|&gt;)|(?:>|&gt;)))`)
	slackURL     = regexp.MustCompile(`(?i)((?:<|&lt;)?[ \t]*((?:https?|mailto)://[^| \n]+)(?:[ \t]*\|[ \t]*(?:([^\n]+?)[ \t]*)?(?:>|&gt;)|(?:>|&gt;)))`)
)

// slackMessage is the JSON Apprise posts for a title and body. ok is false
// when there is nothing to send (Apprise refuses an empty body).
func slackMessage(subject, body, notifyType string, now time.Time) ([]byte, bool) {
	title := strings.TrimFunc(subject, unicode.IsSpace)
	body = strings.TrimRightFunc(body, unicode.IsSpace)
	if body == "" {
		return nil, false
	}
	color, known := slackColors[notifyType]
	if !known {
		notifyType, color = "info", slackColors["info"]
	}
	body = slackEscapes.Replace(body)
	body = restore(body, slackChannel, func(m []string) string { return "!" + strings.TrimSpace(m[2]) })
	body = restore(body, slackUser, func(m []string) string { return "@" + strings.TrimSpace(m[2]) })
	body = restore(body, slackURL, func(m []string) string { return strings.ReplaceAll(m[2], "&amp;", "&") })
	image := "https://github.com/caronc/apprise/raw/master/apprise/assets/themes/default/apprise-" + notifyType + "-72x72.png"
	type attachment struct {
		Title      string  `json:"title"`
		Text       string  `json:"text"`
		Color      string  `json:"color"`
		FooterIcon string  `json:"footer_icon"`
		Footer     string  `json:"footer"`
		TS         float64 `json:"ts"`
	}
	msg, _ := json.Marshal(struct {
		Mrkdwn      bool         `json:"mrkdwn"`
		Attachments []attachment `json:"attachments"`
		IconURL     string       `json:"icon_url"`
	}{true, []attachment{{slackEscapes.Replace(title), body, color, image, slackAppID,
		float64(now.UnixMicro()) / 1e6}}, image})
	return msg, true
}

// restore puts each escaped Slack reference back as <ref|desc> or <ref>.
func restore(s string, re *regexp.Regexp, ref func(m []string) string) string {
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out := "<" + ref(m)
		if desc := strings.TrimSpace(m[3]); desc != "" {
			out += "|" + desc
		}
		s = strings.ReplaceAll(s, m[1], out+">")
	}
	return s
}

// slackStatus is Apprise's wording of a status Slack answered with.
var slackStatus = map[int]string{400: "Bad Request - Unsupported Parameters.", 401: "Unauthorized - Invalid Token.",
	404: "Page not found.", 405: "Method not allowed.", 500: "Internal server error.", 503: "Servers are overloaded."}

// slackFailure is what Apprise logs when Slack does not answer 200 "ok",
// which Prefect keeps as the notification log.
func slackFailure(status int) string {
	s := slackStatus[status]
	if s != "" {
		s += ", "
	}
	return "[WARNING]: Failed to send to Slack: " + s + "error=" + strconv.Itoa(status) + "."
}
