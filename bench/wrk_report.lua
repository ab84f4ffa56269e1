-- wrk script for the HTTP half of the benchmark: an optional POST body of
-- WRK_BODY_SIZE bytes, and one JSON object on stdout in the same shape as
-- wsgi-fpm-loadgen --json, so scripts/bench reads both the same way.
local body_size = tonumber(os.getenv("WRK_BODY_SIZE") or "0")
if body_size > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", body_size)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    '{"requests":%d,"duration":%.6f,"requests_per_second":%.3f,' ..
    '"latency_us":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"p99_9":%.3f,"max":%.3f,"mean":%.3f},' ..
    '"bytes_received":%d,"errors":{"total":%d,"connect":%d,"io":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, summary.bytes, errors, e.connect, e.read + e.write, e.status, e.timeout))
end
