-- Shared by the wrk scripts: a JSON line with the endpoint's figures when the run ends.
local common = {}

function common.report(name)
  return function(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
      '{"endpoint": "%s", "requests": %d, "errors": %d, "status_errors": %d, "timeouts": %d, "socket_errors": %d, "seconds": %.3f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
      name, summary.requests, errors.connect + errors.read + errors.write + errors.status + errors.timeout,
      errors.status, errors.timeout, errors.connect + errors.read + errors.write,
      summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000))
  end
end

-- Arguments after `--`, split on commas.
function common.list(text)
  local items = {}
  for item in string.gmatch(text or "", "[^,]+") do table.insert(items, item) end
  return items
end

return common
