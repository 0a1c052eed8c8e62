-- wrk's script for bench/wrk.py: POST a new MERLIN report on every request.
-- The body is bench/load.py's message with four placeholders, each request's number n
-- filled in: a new message id, reference, child (family name) and valid NHS number.
-- Environment: BENCH_TEMPLATE (the template file), BENCH_KEY (the API key, optional),
-- BENCH_FIRST (the first message number). Prints one JSON line when done.

local threads, counter, step, template = {}, 0, 1, nil

local function letters(n)
  local out = ""
  repeat
    out = out .. string.char(97 + n % 26)
    n = math.floor(n / 26)
  until n == 0
  return out
end

local function nhs(n)
  local k = 0
  while true do
    local body = string.format("999%06d", (n + k * 7919) % 1000000)
    local sum = 0
    for i = 1, 9 do
      sum = sum + tonumber(body:sub(i, i)) * (11 - i)
    end
    local check = 11 - sum % 11
    if check == 11 then check = 0 end
    if check ~= 10 then return body .. check end
    k = k + 1
  end
end

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(os.getenv("BENCH_TEMPLATE"), "rb"))
  template = file:read("*a")
  file:close()
  step = tonumber(os.getenv("BENCH_THREADS"))
  counter = tonumber(os.getenv("BENCH_FIRST")) + index
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/xml"
  local key = os.getenv("BENCH_KEY")
  if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
end

function request()
  local n = counter
  counter = counter + step
  local body = template
    :gsub("@ID@", string.format("%012d", n))
    :gsub("@REF@", string.format("%02dMIS%06d", math.floor(n / 1000000) % 100, n % 1000000))
    :gsub("@FAMILY@", "Testchild" .. letters(n))
    :gsub("@NHS@", nhs(n))
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "non_2xx": %d, ' ..
    '"socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
