-- api.lua - wrk script for tests/bench/api.sh: POST /v1/screenings with the
-- example requests of conf/examples, each with a unique id, and a summary of
-- throughput, latency percentiles and non-200 answers at the end.
local bodies = {}
local counter = 0
local thread_id = 0
local threads = {}
local next_thread = 0

function setup(thread)
	thread:set("tid", next_thread)
	next_thread = next_thread + 1
	table.insert(threads, thread)
end

function init(args)
	thread_id = tid
	non200 = 0
	local dir = os.getenv("KVS_EXAMPLES")
	local one = os.getenv("KVS_BODY")
	if one and one ~= "" then
		-- One request (tests/bench/large.sh), sent again and again.
		local f = assert(io.open(one, "r"))
		table.insert(bodies, f:read("*a"))
		f:close()
	end
	for _, name in ipairs(#bodies > 0 and {} or { "export-fpga-board.json", "export-harmless.json",
				"investment-spinoff.json", "partnership-joint-lab.json" }) do
		local f = io.open(dir .. "/" .. name, "r")
		if f then
			table.insert(bodies, f:read("*a"))
			f:close()
		end
	end
	assert(#bodies > 0, "no example requests in " .. dir)
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
	wrk.headers["Authorization"] = "Bearer " .. os.getenv("KVS_TOKEN")
end

function request()
	counter = counter + 1
	local id = string.format("bench-%s-%d-%d", os.getenv("KVS_RUN"), thread_id, counter)
	local body = bodies[(counter % #bodies) + 1]
	body = body:gsub('"id"%s*:%s*"[^"]*"', '"id": "' .. id .. '"', 1)
	return wrk.format(nil, "/v1/screenings", nil, body)
end

function response(status, headers, body)
	if status ~= 200 then
		non200 = non200 + 1
		if not first_bad then
			first_bad = status .. " " .. string.sub(body or "", 1, 160)
		end
	end
end

function done(summary, latency, requests)
	local bad = 0
	for _, t in ipairs(threads) do
		bad = bad + (t:get("non200") or 0)
	end
	local secs = summary.duration / 1e6
	io.write(string.format("screenings/s %.0f\n", (summary.requests - bad) / secs))
	io.write(string.format("requests %d non-200 %d socket-errors %d\n", summary.requests, bad,
		summary.errors.connect + summary.errors.read + summary.errors.write +
		summary.errors.timeout + summary.errors.status))
	for _, t in ipairs(threads) do
		local fb = t:get("first_bad")
		if fb then
			io.write("first non-200 answer: " .. fb .. "\n")
			break
		end
	end
	io.write(string.format("latency p50 %.2f ms p99 %.2f ms p99.9 %.2f ms max %.2f ms\n",
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		latency:percentile(99.9) / 1000, latency.max / 1000))
end
