// Package templates renders and checks the Jinja templates users give
// automations (a notification's subject and body, a webhook's payload, a
// run's parameters) as Prefect 3.9.1's sandboxed environment does
// (server/utilities/user_templates.py, server/events/jinja_filters.py),
// and hydrates parameters' "__prefect_kind" placeholders as Prefect's
// schema_tools do. Parsing and evaluation are gonja's; the values a template
// sees (values.go, model.go) behave as Prefect's Python objects do under
// Jinja, so common templates print what Prefect prints.
package templates
