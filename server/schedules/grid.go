package schedules

import (
	"math"
	"math/big"
	"time"
)

// A time.Duration spans only about 292 years, while schedules live anywhere
// in years 1 to 9999: t.Sub saturates and k*period overflows across such
// spans. These two do the grid arithmetic (origin + k*period) exactly, in
// nanoseconds held by big integers.

var nsPerSecond = big.NewInt(int64(time.Second))

func unixNanos(t time.Time) *big.Int {
	n := new(big.Int).Mul(big.NewInt(t.Unix()), nsPerSecond)
	return n.Add(n, big.NewInt(int64(t.Nanosecond())))
}

// periodIndex returns (t - origin) / period truncated toward zero (as
// Python's int() of the quotient), clamped to the int64 range.
func periodIndex(origin, t time.Time, period time.Duration) int64 {
	diff := new(big.Int).Sub(unixNanos(t), unixNanos(origin))
	k := diff.Quo(diff, big.NewInt(int64(period)))
	switch {
	case k.IsInt64():
		return k.Int64()
	case k.Sign() < 0:
		return math.MinInt64
	}
	return math.MaxInt64
}

// addPeriods returns origin + k*period, in origin's location.
func addPeriods(origin time.Time, k int64, period time.Duration) time.Time {
	total := new(big.Int).Mul(big.NewInt(k), big.NewInt(int64(period)))
	secs, nanos := total.QuoRem(total, nsPerSecond, new(big.Int))
	return time.Unix(origin.Unix()+secs.Int64(), int64(origin.Nanosecond())+nanos.Int64()).In(origin.Location())
}
