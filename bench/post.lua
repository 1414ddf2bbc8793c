-- wrk script: a 1 KiB JSON POST to the URL given on the command line.
-- Prints a machine-readable summary for run.sh after wrk's own report.
local fields = {}
for i = 1, 23 do
  fields[#fields + 1] = string.format('"field_%02d":"%s"', i, string.rep("x", 29))
end
local body = "{" .. table.concat(fields, ",") .. "}"
body = body .. string.rep(" ", 1024 - #body)
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  local failed = e.connect + e.read + e.write + e.timeout
  io.write(string.format("result requests=%d non2xx=%d socket_errors=%d seconds=%.3f rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f body_bytes=%d\n",
    summary.requests, e.status, failed, summary.duration / 1e6,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, #body))
end
