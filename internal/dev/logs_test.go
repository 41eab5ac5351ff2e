package dev

import "testing"

func TestLogLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"START RequestId: 8f3e Version: $LATEST", ""},
		{"END RequestId: 8f3e", ""},
		{"", ""},
		{"REPORT RequestId: 8f3e\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 24 MB\tInit Duration: 38.40 ms",
			"⏱ 1.2 ms  mem 24/128 MB  (cold 38 ms)"},
		{"REPORT RequestId: 8f3e\tDuration: 212.50 ms\tBilled Duration: 213 ms\tMemory Size: 256 MB\tMax Memory Used: 31 MB",
			"⏱ 212 ms  mem 31/256 MB"},
		{"REPORT RequestId: 8f3e\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB\tStatus: timeout",
			"⏱ 3000 ms  mem 9/128 MB  timeout"},
		{"REPORT RequestId: 8f3e\tDuration: 5.00 ms\tBilled Duration: 5 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\tStatus: error\tError Type: Runtime.ExitError",
			"⏱ 5.0 ms  mem 0/128 MB  error Runtime.ExitError"},
		{"2026-11-23T07:00:00.123Z\t8f3e-11\tINFO\tgreeting you", "INFO\tgreeting you"},
		{"2026/11/23 07:41:13 adding 1 and 2", "2026/11/23 07:41:13 adding 1 and 2"},
		{"plain\ttabbed output", "plain\ttabbed output"},
	} {
		if got := logLine(tc.in); got != tc.want {
			t.Errorf("logLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
