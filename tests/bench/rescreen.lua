-- rescreen.lua - wrk script for tests/bench/rescreen.sh: POST /v1/screenings
-- of conf/examples/partnership-joint-lab.json with unique ids.  KVS_PHASE
-- "load": each thread stores KVS_PER_THREAD requests (one in 100 with the
-- partner "Bench Listed Institute"; counted by their 200 answers, so a
-- request lost with a refused connection is made again under a new id),
-- then only asks GET /healthz; "live":
-- unique ids without end, one request per connection every KVS_DELAY_MS.
local body
local counter = 0
local stored = 0
local thread_id = 0
local next_thread = 0
local threads = {}

function setup(thread)
	thread:set("tid", next_thread)
	next_thread = next_thread + 1
	table.insert(threads, thread)
end

function init(args)
	thread_id = tid
	non200 = 0
	local f = assert(io.open(os.getenv("KVS_EXAMPLES") .. "/partnership-joint-lab.json", "r"))
	body = f:read("*a")
	f:close()
	phase = os.getenv("KVS_PHASE")
	per_thread = tonumber(os.getenv("KVS_PER_THREAD") or "0")
	delay_ms = tonumber(os.getenv("KVS_DELAY_MS") or "0")
	wrk.headers["Content-Type"] = "application/json"
	wrk.headers["Authorization"] = "Bearer " .. os.getenv("KVS_TOKEN")
end

function request()
	counter = counter + 1
	if phase == "load" and stored >= per_thread then
		return wrk.format("GET", "/healthz", nil, nil)
	end
	local id = string.format("%s-%d-%d", phase, thread_id, counter)
	local b = body:gsub('"id"%s*:%s*"[^"]*"', '"id": "' .. id .. '"', 1)
	if counter % 100 == 0 then
		b = b:gsub('"name": "Beihang University"', '"name": "Bench Listed Institute"', 1)
	end
	return wrk.format("POST", "/v1/screenings", nil, b)
end

function delay()
	return delay_ms
end

function response(status, headers, body)
	if status ~= 200 then
		non200 = non200 + 1
	elseif phase == "load" and #body > 0 and body:sub(1, 1) == "{" then
		stored = stored + 1
	end
end

function done(summary, latency, requests)
	local bad = 0
	for _, t in ipairs(threads) do
		bad = bad + t:get("non200")
	end
	io.write(string.format("requests %d, non-200 %d\n", summary.requests, bad))
	io.write(string.format("latency p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms\n",
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		latency:percentile(99.9) / 1000, latency.max / 1000))
end
