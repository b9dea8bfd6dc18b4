package schedules_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schedules"
	"prefectgo.dev/prefectgo/server/schema"
)

// Every expectation here was produced by Prefect 3.9.1's own
// server/schemas/schedules.py (Python 3.13: the whenever engine) for the
// same schedule, start, end and n: the instants, and Python's str() of each
// date, which is the date part of an auto-scheduled run's idempotency key.
func TestDatesMatchPrefect(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		schedule   string
		start, end string
		n          int
		want, keys []string
	}{
		{"cron daily 0 0 * * * in UTC", `{"cron": "0 0 * * *"}`, "2021-01-01T00:00:00Z", "", 5,
			[]string{"2021-01-01T00:00:00Z", "2021-01-02T00:00:00Z", "2021-01-03T00:00:00Z", "2021-01-04T00:00:00Z", "2021-01-05T00:00:00Z"},
			[]string{"2021-01-01 00:00:00+00:00", "2021-01-02 00:00:00+00:00", "2021-01-03 00:00:00+00:00", "2021-01-04 00:00:00+00:00", "2021-01-05 00:00:00+00:00"}},
		{"cron hourly across spring-forward in New York: 02:00 never comes", `{"cron": "0 * * * *", "timezone": "America/New_York"}`, "2018-03-11T04:00:00Z", "", 5,
			[]string{"2018-03-11T04:00:00Z", "2018-03-11T05:00:00Z", "2018-03-11T06:00:00Z", "2018-03-11T07:00:00Z", "2018-03-11T08:00:00Z"},
			[]string{"2018-03-10 23:00:00-05:00", "2018-03-11 00:00:00-05:00", "2018-03-11 01:00:00-05:00", "2018-03-11 03:00:00-04:00", "2018-03-11 04:00:00-04:00"}},
		{"cron hourly across fall-back in New York: the repeated 01:00 fires once, then 02:00 EST", `{"cron": "0 * * * *", "timezone": "America/New_York"}`, "2018-11-04T03:00:00Z", "", 5,
			[]string{"2018-11-04T03:00:00Z", "2018-11-04T04:00:00Z", "2018-11-04T05:00:00Z", "2018-11-04T07:00:00Z", "2018-11-04T08:00:00Z"},
			[]string{"2018-11-03 23:00:00-04:00", "2018-11-04 00:00:00-04:00", "2018-11-04 01:00:00-04:00", "2018-11-04 02:00:00-05:00", "2018-11-04 03:00:00-05:00"}},
		{"cron 09:00 daily across spring-forward keeps 09:00 local", `{"cron": "0 9 * * *", "timezone": "America/New_York"}`, "2018-03-08T14:00:00Z", "", 5,
			[]string{"2018-03-08T14:00:00Z", "2018-03-09T14:00:00Z", "2018-03-10T14:00:00Z", "2018-03-11T13:00:00Z", "2018-03-12T13:00:00Z"},
			[]string{"2018-03-08 09:00:00-05:00", "2018-03-09 09:00:00-05:00", "2018-03-10 09:00:00-05:00", "2018-03-11 09:00:00-04:00", "2018-03-12 09:00:00-04:00"}},
		{"cron 09:00 daily across fall-back keeps 09:00 local", `{"cron": "0 9 * * *", "timezone": "America/New_York"}`, "2018-11-01T13:00:00Z", "", 5,
			[]string{"2018-11-01T13:00:00Z", "2018-11-02T13:00:00Z", "2018-11-03T13:00:00Z", "2018-11-04T14:00:00Z", "2018-11-05T14:00:00Z"},
			[]string{"2018-11-01 09:00:00-04:00", "2018-11-02 09:00:00-04:00", "2018-11-03 09:00:00-04:00", "2018-11-04 09:00:00-05:00", "2018-11-05 09:00:00-05:00"}},
		{"cron 02:30 on the spring-forward day moves to 03:30", `{"cron": "30 2 * * *", "timezone": "America/New_York"}`, "2018-03-10T12:00:00Z", "", 3,
			[]string{"2018-03-11T07:30:00Z", "2018-03-12T06:30:00Z", "2018-03-13T06:30:00Z"},
			[]string{"2018-03-11 03:30:00-04:00", "2018-03-12 02:30:00-04:00", "2018-03-13 02:30:00-04:00"}},
		{"cron 01:30 on the fall-back day fires once, on the first pass", `{"cron": "30 1 * * *", "timezone": "America/New_York"}`, "2018-11-03T12:00:00Z", "", 3,
			[]string{"2018-11-04T05:30:00Z", "2018-11-05T06:30:00Z", "2018-11-06T06:30:00Z"},
			[]string{"2018-11-04 01:30:00-04:00", "2018-11-05 01:30:00-05:00", "2018-11-06 01:30:00-05:00"}},
		{"cron every 30 min across spring-forward in Berlin", `{"cron": "*/30 * * * *", "timezone": "Europe/Berlin"}`, "2024-03-31T00:00:00Z", "", 6,
			[]string{"2024-03-31T00:00:00Z", "2024-03-31T00:30:00Z", "2024-03-31T01:00:00Z", "2024-03-31T01:30:00Z", "2024-03-31T02:00:00Z", "2024-03-31T02:30:00Z"},
			[]string{"2024-03-31 01:00:00+01:00", "2024-03-31 01:30:00+01:00", "2024-03-31 03:00:00+02:00", "2024-03-31 03:30:00+02:00", "2024-03-31 04:00:00+02:00", "2024-03-31 04:30:00+02:00"}},
		{"cron every 30 min across fall-back in Berlin: the second pass through 02:xx is skipped", `{"cron": "*/30 * * * *", "timezone": "Europe/Berlin"}`, "2024-10-26T23:30:00Z", "", 7,
			[]string{"2024-10-26T23:30:00Z", "2024-10-27T00:00:00Z", "2024-10-27T00:30:00Z", "2024-10-27T02:00:00Z", "2024-10-27T02:30:00Z", "2024-10-27T03:00:00Z", "2024-10-27T03:30:00Z"},
			[]string{"2024-10-27 01:30:00+02:00", "2024-10-27 02:00:00+02:00", "2024-10-27 02:30:00+02:00", "2024-10-27 03:00:00+01:00", "2024-10-27 03:30:00+01:00", "2024-10-27 04:00:00+01:00", "2024-10-27 04:30:00+01:00"}},
		{"cron midnight daily across spring-forward in Berlin", `{"cron": "0 0 * * *", "timezone": "Europe/Berlin"}`, "2024-03-29T12:00:00Z", "", 4,
			[]string{"2024-03-29T23:00:00Z", "2024-03-30T23:00:00Z", "2024-03-31T22:00:00Z", "2024-04-01T22:00:00Z"},
			[]string{"2024-03-30 00:00:00+01:00", "2024-03-31 00:00:00+01:00", "2024-04-01 00:00:00+02:00", "2024-04-02 00:00:00+02:00"}},
		{"cron midnight daily across fall-back in Berlin", `{"cron": "0 0 * * *", "timezone": "Europe/Berlin"}`, "2024-10-25T12:00:00Z", "", 4,
			[]string{"2024-10-25T22:00:00Z", "2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z", "2024-10-28T23:00:00Z"},
			[]string{"2024-10-26 00:00:00+02:00", "2024-10-27 00:00:00+02:00", "2024-10-28 00:00:00+01:00", "2024-10-29 00:00:00+01:00"}},
		{"cron start in the second pass of the repeated hour: its wall times read as the first pass, so nothing until 02:00", `{"cron": "*/20 * * * *", "timezone": "America/New_York"}`, "2018-11-04T06:10:00Z", "", 4,
			[]string{"2018-11-04T07:00:00Z", "2018-11-04T07:20:00Z", "2018-11-04T07:40:00Z", "2018-11-04T08:00:00Z"},
			[]string{"2018-11-04 02:00:00-05:00", "2018-11-04 02:20:00-05:00", "2018-11-04 02:40:00-05:00", "2018-11-04 03:00:00-05:00"}},
		{"cron start just after spring-forward: 02:30 (moved to 03:30) is still ahead", `{"cron": "30 2 * * *", "timezone": "America/New_York"}`, "2018-03-11T07:10:00Z", "", 2,
			[]string{"2018-03-11T07:30:00Z", "2018-03-12T06:30:00Z"},
			[]string{"2018-03-11 03:30:00-04:00", "2018-03-12 02:30:00-04:00"}},
		{"cron start on the DST day before the jump (Prefect's Montreal regression)", `{"cron": "10 0 * * *", "timezone": "America/Montreal"}`, "2023-03-12T05:10:02Z", "", 5,
			[]string{"2023-03-13T04:10:00Z", "2023-03-14T04:10:00Z", "2023-03-15T04:10:00Z", "2023-03-16T04:10:00Z", "2023-03-17T04:10:00Z"},
			[]string{"2023-03-13 00:10:00-04:00", "2023-03-14 00:10:00-04:00", "2023-03-15 00:10:00-04:00", "2023-03-16 00:10:00-04:00", "2023-03-17 00:10:00-04:00"}},
		{"cron day_or true: day 1-7 OR Friday", `{"cron": "0 0 1-7 * 5", "day_or": true}`, "2024-01-01T00:00:00Z", "", 5,
			[]string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z", "2024-01-05T00:00:00Z"},
			[]string{"2024-01-01 00:00:00+00:00", "2024-01-02 00:00:00+00:00", "2024-01-03 00:00:00+00:00", "2024-01-04 00:00:00+00:00", "2024-01-05 00:00:00+00:00"}},
		{"cron day_or false: first Friday of the month", `{"cron": "0 0 1-7 * 5", "day_or": false}`, "2024-01-01T00:00:00Z", "", 5,
			[]string{"2024-01-05T00:00:00Z", "2024-02-02T00:00:00Z", "2024-03-01T00:00:00Z", "2024-04-05T00:00:00Z", "2024-05-03T00:00:00Z"},
			[]string{"2024-01-05 00:00:00+00:00", "2024-02-02 00:00:00+00:00", "2024-03-01 00:00:00+00:00", "2024-04-05 00:00:00+00:00", "2024-05-03 00:00:00+00:00"}},
		{"cron day_or false: Friday the 13th", `{"cron": "0 0 13 * fri", "day_or": false}`, "2024-01-01T00:00:00Z", "", 3,
			[]string{"2024-09-13T00:00:00Z", "2024-12-13T00:00:00Z", "2025-06-13T00:00:00Z"},
			[]string{"2024-09-13 00:00:00+00:00", "2024-12-13 00:00:00+00:00", "2025-06-13 00:00:00+00:00"}},
		{"cron day_or true: the 13th OR any Friday", `{"cron": "0 0 13 * fri", "day_or": true}`, "2024-09-01T00:00:00Z", "", 4,
			[]string{"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z", "2024-09-27T00:00:00Z"},
			[]string{"2024-09-06 00:00:00+00:00", "2024-09-13 00:00:00+00:00", "2024-09-20 00:00:00+00:00", "2024-09-27 00:00:00+00:00"}},
		{"cron full day-of-month list with a * in the weekday field becomes *: even weekdays only", `{"cron": "0 0 1-31 * */2"}`, "2024-01-01T00:00:00Z", "", 4,
			[]string{"2024-01-02T00:00:00Z", "2024-01-04T00:00:00Z", "2024-01-06T00:00:00Z", "2024-01-07T00:00:00Z"},
			[]string{"2024-01-02 00:00:00+00:00", "2024-01-04 00:00:00+00:00", "2024-01-06 00:00:00+00:00", "2024-01-07 00:00:00+00:00"}},
		{"cron full day-of-month list without a * in the weekday field: every day", `{"cron": "0 0 1-31 * 1"}`, "2024-01-01T00:00:00Z", "", 3,
			[]string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"},
			[]string{"2024-01-01 00:00:00+00:00", "2024-01-02 00:00:00+00:00", "2024-01-03 00:00:00+00:00"}},
		{"cron L: last day of the month", `{"cron": "0 0 L * *"}`, "2024-01-01T00:00:00Z", "", 3,
			[]string{"2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z"},
			[]string{"2024-01-31 00:00:00+00:00", "2024-02-29 00:00:00+00:00", "2024-03-31 00:00:00+00:00"}},
		{"cron L5: last Friday of the month", `{"cron": "0 0 * * L5"}`, "2024-01-01T00:00:00Z", "", 3,
			[]string{"2024-01-26T00:00:00Z", "2024-02-23T00:00:00Z", "2024-03-29T00:00:00Z"},
			[]string{"2024-01-26 00:00:00+00:00", "2024-02-23 00:00:00+00:00", "2024-03-29 00:00:00+00:00"}},
		{"cron 5#2: second Friday of the month", `{"cron": "0 12 * * 5#2"}`, "2024-01-01T00:00:00Z", "", 3,
			[]string{"2024-01-12T12:00:00Z", "2024-02-09T12:00:00Z", "2024-03-08T12:00:00Z"},
			[]string{"2024-01-12 12:00:00+00:00", "2024-02-09 12:00:00+00:00", "2024-03-08 12:00:00+00:00"}},
		{"cron croniter's month-length quirk with day_or false (day 31 of February spills over, 1 March skipped)", `{"cron": "0 0 */10 * sun", "day_or": false, "timezone": "Australia/Sydney"}`, "2020-02-20T00:00:00Z", "", 2,
			[]string{"2020-05-30T14:00:00Z", "2020-06-20T14:00:00Z"},
			[]string{"2020-05-31 00:00:00+10:00", "2020-06-21 00:00:00+10:00"}},
		{"cron six fields: seconds last", `{"cron": "30 10 * * * 15"}`, "2024-01-01T10:30:15Z", "", 2,
			[]string{"2024-01-01T10:30:15Z", "2024-01-02T10:30:15Z"},
			[]string{"2024-01-01 10:30:15+00:00", "2024-01-02 10:30:15+00:00"}},
		{"cron a start with a fraction of a second is past its own minute", `{"cron": "0 12 * * mon-fri"}`, "2024-01-05T12:00:00.5Z", "", 2,
			[]string{"2024-01-08T12:00:00Z", "2024-01-09T12:00:00Z"},
			[]string{"2024-01-08 12:00:00+00:00", "2024-01-09 12:00:00+00:00"}},
		{"cron @hourly in a half-hour zone with an end and no n: every date up to end", `{"cron": "@hourly", "timezone": "Asia/Kolkata"}`, "2024-01-01T00:00:00Z", "2024-01-01T03:00:00Z", 0,
			[]string{"2024-01-01T00:30:00Z", "2024-01-01T01:30:00Z", "2024-01-01T02:30:00Z"},
			[]string{"2024-01-01 06:00:00+05:30", "2024-01-01 07:00:00+05:30", "2024-01-01 08:00:00+05:30"}},
		{"cron no n and no end: one date", `{"cron": "* * * * *"}`, "2024-01-01T00:00:00Z", "", 0,
			[]string{"2024-01-01T00:00:00Z"},
			[]string{"2024-01-01 00:00:00+00:00"}},
		{"cron 5#2 with a day of month and day_or: croniter finds nothing (Prefect raises)", `{"cron": "0 0 1 * 5#2"}`, "2024-01-01T00:00:00Z", "", 5,
			[]string{},
			[]string{}},
		{"cron a range that wraps past midnight", `{"cron": "0 22-2/2 * * *"}`, "2024-01-01T00:00:00Z", "", 4,
			[]string{"2024-01-01T00:00:00Z", "2024-01-01T02:00:00Z", "2024-01-01T22:00:00Z", "2024-01-02T00:00:00Z"},
			[]string{"2024-01-01 00:00:00+00:00", "2024-01-01 02:00:00+00:00", "2024-01-01 22:00:00+00:00", "2024-01-02 00:00:00+00:00"}},
		{"interval daily anchored at 09:00 keeps 09:00 across spring-forward", `{"interval": 86400, "anchor_date": "2018-03-08T14:00:00Z", "timezone": "America/New_York"}`, "2018-03-08T14:00:00Z", "", 5,
			[]string{"2018-03-08T14:00:00Z", "2018-03-09T14:00:00Z", "2018-03-10T14:00:00Z", "2018-03-11T13:00:00Z", "2018-03-12T13:00:00Z"},
			[]string{"2018-03-08 09:00:00-05:00", "2018-03-09 09:00:00-05:00", "2018-03-10 09:00:00-05:00", "2018-03-11 09:00:00-04:00", "2018-03-12 09:00:00-04:00"}},
		{"interval daily anchored at 09:00 keeps 09:00 across fall-back", `{"interval": 86400, "anchor_date": "2018-11-01T13:00:00Z", "timezone": "America/New_York"}`, "2018-11-01T13:00:00Z", "", 5,
			[]string{"2018-11-01T13:00:00Z", "2018-11-02T13:00:00Z", "2018-11-03T13:00:00Z", "2018-11-04T14:00:00Z", "2018-11-05T14:00:00Z"},
			[]string{"2018-11-01 09:00:00-04:00", "2018-11-02 09:00:00-04:00", "2018-11-03 09:00:00-04:00", "2018-11-04 09:00:00-05:00", "2018-11-05 09:00:00-05:00"}},
		{"interval hourly across fall-back: every elapsed hour, 01:00 twice", `{"interval": 3600, "anchor_date": "2018-01-01T00:00:00Z", "timezone": "America/New_York"}`, "2018-11-04T03:00:00Z", "", 5,
			[]string{"2018-11-04T03:00:00Z", "2018-11-04T04:00:00Z", "2018-11-04T05:00:00Z", "2018-11-04T06:00:00Z", "2018-11-04T07:00:00Z"},
			[]string{"2018-11-03 23:00:00-04:00", "2018-11-04 00:00:00-04:00", "2018-11-04 01:00:00-04:00", "2018-11-04 01:00:00-05:00", "2018-11-04 02:00:00-05:00"}},
		{"interval hourly across spring-forward", `{"interval": 3600, "anchor_date": "2018-01-01T00:00:00Z", "timezone": "America/New_York"}`, "2018-03-11T04:00:00Z", "", 5,
			[]string{"2018-03-11T04:00:00Z", "2018-03-11T05:00:00Z", "2018-03-11T06:00:00Z", "2018-03-11T07:00:00Z", "2018-03-11T08:00:00Z"},
			[]string{"2018-03-10 23:00:00-05:00", "2018-03-11 00:00:00-05:00", "2018-03-11 01:00:00-05:00", "2018-03-11 03:00:00-04:00", "2018-03-11 04:00:00-04:00"}},
		{"interval anchor in the past", `{"interval": 86400, "anchor_date": "2020-02-02T23:35:00Z"}`, "2021-07-01T00:00:00Z", "", 3,
			[]string{"2021-07-01T23:35:00Z", "2021-07-02T23:35:00Z", "2021-07-03T23:35:00Z"},
			[]string{"2021-07-01 23:35:00+00:00", "2021-07-02 23:35:00+00:00", "2021-07-03 23:35:00+00:00"}},
		{"interval anchor in the future (the grid extends backwards)", `{"interval": 61200, "anchor_date": "2030-02-02T05:24:00Z"}`, "2021-07-01T00:00:00Z", "", 3,
			[]string{"2021-07-01T07:24:00Z", "2021-07-02T00:24:00Z", "2021-07-02T17:24:00Z"},
			[]string{"2021-07-01 07:24:00+00:00", "2021-07-02 00:24:00+00:00", "2021-07-02 17:24:00+00:00"}},
		{"interval two days keeps local time across spring-forward in Berlin", `{"interval": 172800, "anchor_date": "2024-03-27T09:00:00Z", "timezone": "Europe/Berlin"}`, "2024-03-27T00:00:00Z", "", 4,
			[]string{"2024-03-27T09:00:00Z", "2024-03-29T09:00:00Z", "2024-03-31T08:00:00Z", "2024-04-02T08:00:00Z"},
			[]string{"2024-03-27 10:00:00+01:00", "2024-03-29 10:00:00+01:00", "2024-03-31 10:00:00+02:00", "2024-04-02 10:00:00+02:00"}},
		{"interval one and a half days: days in local time, the rest elapsed", `{"interval": 129600.0, "anchor_date": "2018-03-09T14:00:00Z", "timezone": "America/New_York"}`, "2018-03-09T14:00:00Z", "", 4,
			[]string{"2018-03-09T14:00:00Z", "2018-03-11T02:00:00Z", "2018-03-12T13:00:00Z", "2018-03-14T01:00:00Z"},
			[]string{"2018-03-09 09:00:00-05:00", "2018-03-10 21:00:00-05:00", "2018-03-12 09:00:00-04:00", "2018-03-13 21:00:00-04:00"}},
		{"interval daily at 02:30: moves to 03:30 on the spring-forward day and stays there", `{"interval": 86400, "anchor_date": "2018-03-08T07:30:00Z", "timezone": "America/New_York"}`, "2018-03-09T00:00:00Z", "", 4,
			[]string{"2018-03-09T07:30:00Z", "2018-03-10T07:30:00Z", "2018-03-11T07:30:00Z", "2018-03-12T07:30:00Z"},
			[]string{"2018-03-09 02:30:00-05:00", "2018-03-10 02:30:00-05:00", "2018-03-11 03:30:00-04:00", "2018-03-12 03:30:00-04:00"}},
		{"interval daily anchored in winter, asked in summer: 09:00 local", `{"interval": 86400, "anchor_date": "2018-01-01T14:00:00Z", "timezone": "America/New_York"}`, "2018-06-01T00:00:00Z", "", 3,
			[]string{"2018-06-01T13:00:00Z", "2018-06-02T13:00:00Z", "2018-06-03T13:00:00Z"},
			[]string{"2018-06-01 09:00:00-04:00", "2018-06-02 09:00:00-04:00", "2018-06-03 09:00:00-04:00"}},
		{"interval before the anchor across fall-back: the anchor's offset is kept on the repeated hour", `{"interval": 86400, "anchor_date": "2018-04-03T02:00:00Z", "timezone": "America/Sao_Paulo"}`, "2018-02-17T00:00:00Z", "", 3,
			[]string{"2018-02-17T01:00:00Z", "2018-02-18T02:00:00Z", "2018-02-19T02:00:00Z"},
			[]string{"2018-02-16 23:00:00-02:00", "2018-02-17 23:00:00-03:00", "2018-02-18 23:00:00-03:00"}},
		{"interval before the anchor in New York across fall-back", `{"interval": 86400, "anchor_date": "2024-12-01T09:00:00Z", "timezone": "America/New_York"}`, "2024-11-01T00:00:00Z", "", 4,
			[]string{"2024-11-01T08:00:00Z", "2024-11-02T08:00:00Z", "2024-11-03T09:00:00Z", "2024-11-04T09:00:00Z"},
			[]string{"2024-11-01 04:00:00-04:00", "2024-11-02 04:00:00-04:00", "2024-11-03 04:00:00-05:00", "2024-11-04 04:00:00-05:00"}},
		{"interval fractional seconds", `{"interval": 3.5, "anchor_date": "2024-01-01T09:00:00.25Z"}`, "2024-03-09T12:00:00.123456Z", "", 3,
			[]string{"2024-03-09T12:00:02.75Z", "2024-03-09T12:00:06.25Z", "2024-03-09T12:00:09.75Z"},
			[]string{"2024-03-09 12:00:02.750000+00:00", "2024-03-09 12:00:06.250000+00:00", "2024-03-09 12:00:09.750000+00:00"}},
		{"interval end bound with no n", `{"interval": 60, "anchor_date": "2024-01-01T00:00:00Z"}`, "2024-01-01T00:00:30Z", "2024-01-01T00:05:30Z", 0,
			[]string{"2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z", "2024-01-01T00:03:00Z", "2024-01-01T00:04:00Z", "2024-01-01T00:05:00Z"},
			[]string{"2024-01-01 00:01:00+00:00", "2024-01-01 00:02:00+00:00", "2024-01-01 00:03:00+00:00", "2024-01-01 00:04:00+00:00", "2024-01-01 00:05:00+00:00"}},
		{"rrule daily with the default DTSTART (2020-01-01) in New York", `{"rrule": "FREQ=DAILY", "timezone": "America/New_York"}`, "2024-03-09T12:00:00Z", "", 3,
			[]string{"2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z", "2024-03-12T04:00:00Z"},
			[]string{"2024-03-10 00:00:00-05:00", "2024-03-11 00:00:00-04:00", "2024-03-12 00:00:00-04:00"}},
		{"rrule COUNT counts from DTSTART", `{"rrule": "DTSTART:20240101T090000\nRRULE:FREQ=DAILY;COUNT=5", "timezone": "America/New_York"}`, "2024-01-03T00:00:00Z", "", 10,
			[]string{"2024-01-03T14:00:00Z", "2024-01-04T14:00:00Z", "2024-01-05T14:00:00Z"},
			[]string{"2024-01-03 09:00:00-05:00", "2024-01-04 09:00:00-05:00", "2024-01-05 09:00:00-05:00"}},
		{"rrule UNTIL is inclusive and read in the schedule's zone", `{"rrule": "DTSTART:20240101T090000Z\nRRULE:FREQ=DAILY;UNTIL=20240105T090000Z", "timezone": "America/New_York"}`, "2023-06-01T00:00:00Z", "", 10,
			[]string{"2024-01-01T14:00:00Z", "2024-01-02T14:00:00Z", "2024-01-03T14:00:00Z", "2024-01-04T14:00:00Z", "2024-01-05T14:00:00Z"},
			[]string{"2024-01-01 09:00:00-05:00", "2024-01-02 09:00:00-05:00", "2024-01-03 09:00:00-05:00", "2024-01-04 09:00:00-05:00", "2024-01-05 09:00:00-05:00"}},
		{"rrule weekly BYDAY", `{"rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "timezone": "Europe/Berlin"}`, "2024-06-01T00:00:00Z", "", 4,
			[]string{"2024-06-02T22:00:00Z", "2024-06-04T22:00:00Z", "2024-06-06T22:00:00Z", "2024-06-09T22:00:00Z"},
			[]string{"2024-06-03 00:00:00+02:00", "2024-06-05 00:00:00+02:00", "2024-06-07 00:00:00+02:00", "2024-06-10 00:00:00+02:00"}},
		{"rrule monthly last Friday", `{"rrule": "FREQ=MONTHLY;BYDAY=-1FR"}`, "2024-01-01T00:00:00Z", "", 3,
			[]string{"2024-01-26T00:00:00Z", "2024-02-23T00:00:00Z", "2024-03-29T00:00:00Z"},
			[]string{"2024-01-26 00:00:00+00:00", "2024-02-23 00:00:00+00:00", "2024-03-29 00:00:00+00:00"}},
		{"rrule DTSTART with a TZID keeps its digits, read in the schedule's zone", `{"rrule": "DTSTART;TZID=Europe/Berlin:20240101T090000\nRRULE:FREQ=DAILY"}`, "2024-06-01T00:00:00Z", "", 2,
			[]string{"2024-06-01T09:00:00Z", "2024-06-02T09:00:00Z"},
			[]string{"2024-06-01 09:00:00+00:00", "2024-06-02 09:00:00+00:00"}},
		{"rrule 02:30 on the spring-forward day reads as 01:30 (dateutil)", `{"rrule": "DTSTART:20180301T023000\nRRULE:FREQ=DAILY", "timezone": "America/New_York"}`, "2018-03-10T00:00:00Z", "", 3,
			[]string{"2018-03-10T07:30:00Z", "2018-03-11T06:30:00Z", "2018-03-12T06:30:00Z"},
			[]string{"2018-03-10 02:30:00-05:00", "2018-03-11 01:30:00-05:00", "2018-03-12 02:30:00-04:00"}},
		{"rrule 01:30 on the fall-back day is the first occurrence", `{"rrule": "DTSTART:20180301T013000\nRRULE:FREQ=DAILY", "timezone": "America/New_York"}`, "2018-11-03T00:00:00Z", "", 3,
			[]string{"2018-11-03T05:30:00Z", "2018-11-04T05:30:00Z", "2018-11-05T06:30:00Z"},
			[]string{"2018-11-03 01:30:00-04:00", "2018-11-04 01:30:00-04:00", "2018-11-05 01:30:00-05:00"}},
		{"rrule hourly across fall-back: wall times, so the second 01:00 never comes", `{"rrule": "DTSTART:20181104T000000\nRRULE:FREQ=HOURLY", "timezone": "America/New_York"}`, "2018-11-04T04:00:00Z", "", 4,
			[]string{"2018-11-04T04:00:00Z", "2018-11-04T05:00:00Z", "2018-11-04T07:00:00Z", "2018-11-04T08:00:00Z"},
			[]string{"2018-11-04 00:00:00-04:00", "2018-11-04 01:00:00-04:00", "2018-11-04 02:00:00-05:00", "2018-11-04 03:00:00-05:00"}},
		{"rrule EXDATE", `{"rrule": "DTSTART:20200101T000000\nRRULE:FREQ=DAILY;INTERVAL=3\nEXDATE:20240310T000000", "timezone": "UTC"}`, "2024-03-06T00:00:00Z", "", 3,
			[]string{"2024-03-07T00:00:00Z", "2024-03-13T00:00:00Z", "2024-03-16T00:00:00Z"},
			[]string{"2024-03-07 00:00:00+00:00", "2024-03-13 00:00:00+00:00", "2024-03-16 00:00:00+00:00"}},
		{"rrule two RRULEs and an EXRULE", `{"rrule": "DTSTART:20240101T000000\nRRULE:FREQ=HOURLY;INTERVAL=5\nRRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=30\nEXRULE:FREQ=DAILY;BYHOUR=10", "timezone": "UTC"}`, "2024-01-01T00:00:00Z", "", 6,
			[]string{"2024-01-01T00:00:00Z", "2024-01-01T02:30:00Z", "2024-01-01T05:00:00Z", "2024-01-01T15:00:00Z", "2024-01-01T20:00:00Z", "2024-01-02T01:00:00Z"},
			[]string{"2024-01-01 00:00:00+00:00", "2024-01-01 02:30:00+00:00", "2024-01-01 05:00:00+00:00", "2024-01-01 15:00:00+00:00", "2024-01-01 20:00:00+00:00", "2024-01-02 01:00:00+00:00"}},
		{"rrule minutely from the default DTSTART, years later", `{"rrule": "FREQ=MINUTELY;INTERVAL=7", "timezone": "UTC"}`, "2026-05-05T05:05:05Z", "", 3,
			[]string{"2026-05-05T05:06:00Z", "2026-05-05T05:13:00Z", "2026-05-05T05:20:00Z"},
			[]string{"2026-05-05 05:06:00+00:00", "2026-05-05 05:13:00+00:00", "2026-05-05 05:20:00+00:00"}},
		{"rrule lower case, RRULE: prefix, BYDAY with an ordinal", `{"rrule": "rrule:freq=yearly;bymonth=3;byday=2SU", "timezone": "America/New_York"}`, "2024-01-01T00:00:00Z", "", 2,
			[]string{"2024-03-10T05:00:00Z", "2025-03-09T05:00:00Z"},
			[]string{"2024-03-10 00:00:00-05:00", "2025-03-09 00:00:00-05:00"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := schedules.Parse([]byte(c.schedule), time.Now())
			require.NoError(t, err)
			var end time.Time
			if c.end != "" {
				end = mustTime(t, c.end)
			}
			got := mustDates(t, s, mustTime(t, c.start), end, c.n)
			var gotUTC, gotKeys []string
			for _, d := range got {
				gotUTC = append(gotUTC, d.UTC().Format(time.RFC3339Nano))
				gotKeys = append(gotKeys, s.FormatDate(d))
			}
			if len(c.want) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, c.want, gotUTC)
			require.Equal(t, c.keys, gotKeys)
		})
	}
}

// mustDates is s.Dates, which must not fail.
func mustDates(t *testing.T, s schedules.Schedule, start, end time.Time, n int) []time.Time {
	t.Helper()
	got, err := s.Dates(context.Background(), start, end, n)
	require.NoError(t, err)
	return got
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return v
}

// One call looks at about a thousand candidates, as Prefect's does: with an
// end and no n, a one-second interval over a month gives 1000 dates.
func TestDatesBoundedLikePrefect(t *testing.T) {
	t.Parallel()
	s, err := schedules.Parse([]byte(`{"interval": 1, "anchor_date": "2024-01-01T00:00:00Z"}`), time.Now())
	require.NoError(t, err)
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	got := mustDates(t, s, start, start.AddDate(0, 1, 0), 0)
	require.Len(t, got, 1000)
	require.Equal(t, start.Add(999*time.Second), got[999])

	for _, sched := range []string{`{"cron": "* * * * * *"}`, `{"rrule": "FREQ=SECONDLY"}`} {
		s, err := schedules.Parse([]byte(sched), time.Now())
		require.NoError(t, err)
		require.Len(t, mustDates(t, s, start, start.AddDate(1, 0, 0), 5000), 1002, sched)
	}
}

// n caps the dates however many the window holds, and end caps them however
// large n is.
func TestDatesRespectNAndEnd(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, sched := range []string{
		`{"interval": 3600, "anchor_date": "2020-01-01T00:00:00Z", "timezone": "Europe/Berlin"}`,
		`{"cron": "0 * * * *", "timezone": "Europe/Berlin"}`,
		`{"rrule": "FREQ=HOURLY", "timezone": "Europe/Berlin"}`,
	} {
		s, err := schedules.Parse([]byte(sched), time.Now())
		require.NoError(t, err)
		require.Len(t, mustDates(t, s, start, time.Time{}, 7), 7, sched)
		require.Len(t, mustDates(t, s, start, start.Add(5*time.Hour), 100), 6, sched)
		got := mustDates(t, s, start, start.Add(100*24*time.Hour), 100)
		require.Len(t, got, 100, sched)
		for i := 1; i < len(got); i++ {
			require.Equal(t, time.Hour, got[i].Sub(got[i-1]), sched)
		}
	}
}

// A sub-daily rrule anchored years ago (the default DTSTART is 2020-01-01)
// is not replayed from its start on every pass (its work is bounded, see
// TestPathologicalSchedulesAreBounded) and keeps its grid.
func TestRRuleFarFromItsStartIsFast(t *testing.T) {
	t.Parallel()
	s, err := schedules.Parse([]byte(`{"rrule": "FREQ=SECONDLY;INTERVAL=7"}`), time.Now())
	require.NoError(t, err)
	start := time.Date(2026, 7, 1, 12, 0, 3, 0, time.UTC)
	got := mustDates(t, s, start, time.Time{}, 3)
	// The grid is every 7 s from 2020-01-01T00:00:00Z.
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range got {
		require.Zero(t, d.Sub(base)%(7*time.Second), d)
	}
	require.False(t, got[0].Before(start))
	require.Less(t, got[0].Sub(start), 7*time.Second)
}

// Schedules Prefect refuses are refused with its messages, located at the
// key at fault, so the API answers 422.
func TestParseRejectsWhatPrefectRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		schedule, loc, msg string
	}{
		{`{"interval": 0}`, "interval", "Value error, interval must be positive"},
		{`{"interval": -5}`, "interval", "Value error, interval must be positive"},
		{`{"interval": 5, "timezone": "Mars/Base"}`, "timezone", `Value error, Invalid timezone: "Mars/Base"`},
		{`{"cron": "0 0 * * *", "timezone": "nope"}`, "timezone", `Value error, Invalid timezone: "nope"`},
		{`{"cron": "61 * * * *"}`, "cron", `Value error, Invalid cron string: "61 * * * *"`},
		{`{"cron": "* * * *"}`, "cron", `Value error, Invalid cron string`},
		{`{"cron": "0 0 0 * *"}`, "cron", `Value error, Invalid cron string`},
		{`{"cron": "0 0 ? * MON#6"}`, "cron", `Value error, Invalid cron string`},
		{`{"cron": "0 0 * * 1,5#2"}`, "cron", `Value error, Invalid cron string`},
		{`{"cron": "0 0 * JAN-XYZ *"}`, "cron", `Value error, Invalid cron string`},
		{`{"cron": "*/0 * * * *"}`, "cron", `Value error, Invalid cron string`},
		{`{"cron": "H * * * *"}`, "cron", ``},
		{`{"cron": "R * * * *"}`, "cron", ``},
		{`{"rrule": "FREQ=FOO"}`, "rrule", `Value error, Invalid RRule string "FREQ=FOO"`},
		{`{"rrule": "DTSTART:20240101T000000\nFOO:BAR"}`, "rrule", `Value error, Invalid RRule string`},
		{`{"rrule": "FREQ=DAILY;BYDAY=XX"}`, "rrule", `Value error, Invalid RRule string`},
		{`{"rrule": "` + strings.Repeat(`RDATE:20240101T000000\n`, 400) + `"}`, "rrule", `Value error, Invalid RRule string`},
	}
	for _, c := range cases {
		_, err := schedules.Parse([]byte(c.schedule), time.Now())
		var verr *schema.ValidationError
		require.ErrorAs(t, err, &verr, c.schedule)
		require.Equal(t, c.loc, verr.Loc, c.schedule)
		require.Contains(t, verr.Msg, c.msg, c.schedule)
	}
}

// What Prefect accepts, with the defaults it fills.
func TestParseAcceptsPrefectsShapes(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, c := range []struct{ schedule, kind, class string }{
		{`{"interval": 3.0}`, schedules.KindInterval, "IntervalSchedule"},
		{`{"interval": 86400, "anchor_date": "2024-01-01T09:00:00-05:00", "timezone": "America/New_York"}`, schedules.KindInterval, "IntervalSchedule"},
		{`{"cron": "@daily"}`, schedules.KindCron, "CronSchedule"},
		{`{"cron": "30 8 * * sat-sun", "timezone": "Europe/Berlin", "day_or": false}`, schedules.KindCron, "CronSchedule"},
		{`{"cron": "0 0 ? * MON"}`, schedules.KindCron, "CronSchedule"},
		{`{"cron": "* * * * mon,wed,fri"}`, schedules.KindCron, "CronSchedule"},
		{`{"cron": "0 0 * * 7"}`, schedules.KindCron, "CronSchedule"},
		{`{"rrule": "FREQ=DAILY"}`, schedules.KindRRule, "RRuleSchedule"},
		{`{"rrule": "RDATE:20300101T000000,20300102T000000"}`, schedules.KindRRule, "RRuleSchedule"},
		{`{"rrule": "DTSTART;TZID=America/New_York:20240101T090000\nRRULE:FREQ=WEEKLY;BYWEEKDAY=MO", "timezone": "America/New_York"}`, schedules.KindRRule, "RRuleSchedule"},
	} {
		s, err := schedules.Parse([]byte(c.schedule), now)
		require.NoError(t, err, c.schedule)
		require.Equal(t, c.kind, s.Kind(), c.schedule)
		require.Equal(t, c.class, s.ClassName(), c.schedule)
		require.NotEmpty(t, mustDates(t, s, now, time.Time{}, 1), c.schedule)
	}
	// An interval schedule without an anchor is anchored at now.
	s, err := schedules.Parse([]byte(`{"interval": 60}`), now)
	require.NoError(t, err)
	require.Equal(t, []time.Time{now.Add(time.Minute)}, mustDates(t, s, now.Add(time.Second), time.Time{}, 1))
}
