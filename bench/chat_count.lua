-- wrk script: POST an OpenAI chat.completions request and print a WRKJSON summary line.
-- The request of /work/shared/bench/tools/chat.lua, plus a count of requests *sent* ("sent"):
-- wrk drops the requests in flight when the run ends, but the gateway still serves (or
-- cancels) them and writes a ledger row for each, so the ledger check needs what was sent.
-- Env: BENCH_MODEL (default fake-gpt), BENCH_KEY (Bearer token), BENCH_STREAM=1 for stream:true.
local model  = os.getenv("BENCH_MODEL") or "fake-gpt"
local key    = os.getenv("BENCH_KEY") or "sk-fake"
local stream = os.getenv("BENCH_STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are a helpful assistant."},'
        .. '{"role":"user","content":"Write one short sentence saying hello to the benchmark."}],'
        .. '"max_tokens":64,"temperature":0'
        .. (stream and ',"stream":true,"stream_options":{"include_usage":true}' or '') .. '}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  req = wrk.format()
end

function request()
  sent = sent + 1
  return req
end

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  -- wrk calls request() once more per run, in the first thread, to check the script
  -- (script_verify_request): that call sent nothing.
  local total_sent = -1
  for _, t in ipairs(threads) do total_sent = total_sent + t:get("sent") end
  io.write(string.format(
    'WRKJSON {"requests":%d,"sent":%d,"duration_s":%.3f,"bytes":%d,"rps":%.2f,"lat_mean_ms":%.3f,'
    .. '"lat_p50_ms":%.3f,"lat_p90_ms":%.3f,"lat_p99_ms":%.3f,"lat_max_ms":%.3f,'
    .. '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, total_sent, secs, summary.bytes, summary.requests / secs, latency.mean / 1000,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.status, e.timeout))
end
