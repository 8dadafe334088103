-- SPDX-License-Identifier: BSD-3-Clause
-- Wireshark dissector for the tokfab wire protocol v1 (hwdocs/protocol.md).
--
--   wireshark -X lua_script:tools/dissector/tokfab.lua capture.pcap
--   tshark -X lua_script:tools/dissector/tokfab.lua -Y tokfab -V -r capture.pcap
--
-- Decodes every field of every message type on UDP port 7480 and, by its
-- "TKFB" magic, on any other UDP port. Integers are little-endian. Lengths
-- are checked before use: malformed datagrams get an expert-info error
-- naming what is wrong instead of a Lua error. The MAC is shown, not
-- verified (that needs the tenant's key).

local tokfab = Proto("tokfab", "tokfab wire protocol v1")

local HDR, MAC_LEN = 32, 16

local types = {
	[0x01] = "REQUEST", [0x02] = "FRAGMENT", [0x03] = "CANCEL", [0x04] = "RESUME",
	[0x05] = "PING", [0x81] = "TOKENS", [0x82] = "FINAL", [0x83] = "ERROR", [0x84] = "PONG",
}
local mac_algs = { [0] = "none (unsigned)", [1] = "HMAC-SHA256-128", [2] = "SipHash-2-4-128" }
local prompt_kinds = { [0] = "token ids", [1] = "UTF-8 text" }
local finish_reasons = { [0] = "STOP", [1] = "LENGTH", [2] = "CANCELLED", [3] = "CUT_OFF" }
local errors = {
	[1] = "BAD_MAC", [2] = "REPLAY", [3] = "UNKNOWN_TENANT", [4] = "UNKNOWN_MODEL",
	[5] = "QUOTA_EXHAUSTED", [6] = "RATE_LIMITED", [7] = "BUSY", [8] = "TOO_LARGE",
	[9] = "MALFORMED", [10] = "TIMEOUT", [11] = "INTERNAL", [12] = "UNSUPPORTED_VERSION",
	[13] = "UNSUPPORTED", [14] = "UNKNOWN_REQUEST", [15] = "RESUME_UNAVAILABLE",
}

local f = tokfab.fields
-- header
f.magic = ProtoField.string("tokfab.magic", "Magic")
f.version = ProtoField.uint8("tokfab.version", "Version")
f.type = ProtoField.uint8("tokfab.type", "Type", base.HEX, types)
f.flags = ProtoField.uint8("tokfab.flags", "Flags", base.HEX)
f.flag_retransmit = ProtoField.bool("tokfab.flags.retransmit", "Retransmit", 8, nil, 0x01)
f.flag_from_cache = ProtoField.bool("tokfab.flags.from_cache", "From cache", 8, nil, 0x02)
f.mac_alg = ProtoField.uint8("tokfab.mac_alg", "MAC algorithm", base.DEC, mac_algs)
f.tenant = ProtoField.uint32("tokfab.tenant", "Tenant id")
f.payload_len = ProtoField.uint16("tokfab.payload_len", "Payload length")
f.key_id = ProtoField.uint8("tokfab.key_id", "Key id")
f.reserved = ProtoField.uint8("tokfab.reserved", "Reserved")
f.request_id = ProtoField.uint64("tokfab.request_id", "Request id", base.HEX)
f.timestamp = ProtoField.uint64("tokfab.timestamp_us", "Timestamp (µs since epoch)")
f.timestamp_abs = ProtoField.absolute_time("tokfab.timestamp", "Timestamp", base.UTC)
f.mac = ProtoField.bytes("tokfab.mac", "MAC")
-- REQUEST
f.req_model = ProtoField.uint32("tokfab.req.model", "Model id")
f.req_max_new = ProtoField.uint32("tokfab.req.max_new_tokens", "Max new tokens")
f.req_total = ProtoField.uint32("tokfab.req.prompt_total_len", "Prompt total length")
f.req_kind = ProtoField.uint8("tokfab.req.prompt_kind", "Prompt kind", base.DEC, prompt_kinds)
f.req_priority = ProtoField.uint8("tokfab.req.priority", "Priority")
f.req_flags = ProtoField.uint16("tokfab.req.flags", "Request flags", base.HEX)
f.req_want_text = ProtoField.bool("tokfab.req.flags.want_text", "Want text", 16, nil, 0x0001)
f.req_final_tokens = ProtoField.bool("tokfab.req.flags.final_tokens", "Last tokens in FINAL", 16, nil, 0x0002)
f.req_temperature = ProtoField.uint16("tokfab.req.temperature", "Temperature (1/1000)")
f.req_top_p = ProtoField.uint16("tokfab.req.top_p", "Top-p (1/10000)")
f.req_reserved = ProtoField.uint32("tokfab.req.reserved", "Reserved")
f.req_seed = ProtoField.uint64("tokfab.req.seed", "Seed")
f.req_prompt_len = ProtoField.uint32("tokfab.req.prompt_len", "Prompt bytes here")
f.req_prompt_text = ProtoField.string("tokfab.req.prompt_text", "Prompt text")
f.req_prompt_bytes = ProtoField.bytes("tokfab.req.prompt", "Prompt bytes")
f.req_prompt_token = ProtoField.uint32("tokfab.req.prompt_token", "Prompt token")
-- REQ_FRAGMENT
f.frag_total = ProtoField.uint32("tokfab.frag.prompt_total_len", "Prompt total length")
f.frag_offset = ProtoField.uint32("tokfab.frag.offset", "Offset")
f.frag_len = ProtoField.uint32("tokfab.frag.len", "Fragment length")
f.frag_data = ProtoField.bytes("tokfab.frag.data", "Fragment data")
-- RESUME
f.resume_from = ProtoField.uint32("tokfab.resume.from_seq", "From token")
f.resume_reserved = ProtoField.uint32("tokfab.resume.reserved", "Reserved")
-- PING / PONG
f.ping_echo = ProtoField.uint64("tokfab.ping.echo", "Echo", base.HEX)
f.ping_reserved = ProtoField.uint64("tokfab.ping.reserved", "Reserved")
f.pong_echo = ProtoField.uint64("tokfab.pong.echo", "Echo", base.HEX)
f.pong_min = ProtoField.uint8("tokfab.pong.min_version", "Min version")
f.pong_max = ProtoField.uint8("tokfab.pong.max_version", "Max version")
f.pong_max_dgram = ProtoField.uint16("tokfab.pong.max_dgram", "Max datagram")
f.pong_reserved = ProtoField.uint32("tokfab.pong.reserved", "Reserved")
-- TOKENS
f.tok_first = ProtoField.uint32("tokfab.tok.first_seq", "First token index")
f.tok_n = ProtoField.uint16("tokfab.tok.n_tokens", "Tokens")
f.tok_flags = ProtoField.uint8("tokfab.tok.flags", "Chunk flags", base.HEX)
f.tok_has_text = ProtoField.bool("tokfab.tok.flags.has_text", "Has text", 8, nil, 0x01)
f.tok_reserved = ProtoField.uint8("tokfab.tok.reserved", "Reserved")
f.tok_id = ProtoField.uint32("tokfab.tok.id", "Token id")
f.tok_piece_len = ProtoField.uint8("tokfab.tok.piece_len", "Piece length")
f.tok_piece = ProtoField.bytes("tokfab.tok.piece", "Piece")
f.tok_text = ProtoField.string("tokfab.tok.text", "Text")
-- FINAL
f.fin_reason = ProtoField.uint8("tokfab.final.finish_reason", "Finish reason", base.DEC, finish_reasons)
f.fin_flags = ProtoField.uint8("tokfab.final.flags", "Final flags", base.HEX)
f.fin_has_tokens = ProtoField.bool("tokfab.final.flags.has_tokens", "Has tokens", 8, nil, 0x01)
f.fin_error = ProtoField.uint16("tokfab.final.error_code", "Error code", base.DEC, errors)
f.fin_prompt = ProtoField.uint32("tokfab.final.prompt_tokens", "Prompt tokens")
f.fin_completion = ProtoField.uint32("tokfab.final.completion_tokens", "Completion tokens")
f.fin_accel = ProtoField.uint32("tokfab.final.accel_id", "Accelerator id")
f.fin_cost = ProtoField.uint64("tokfab.final.cost_micro", "Cost (micro-units)")
f.fin_queue = ProtoField.uint32("tokfab.final.queue_us", "Queue time (µs)")
f.fin_total = ProtoField.uint32("tokfab.final.total_us", "Total time (µs)")
-- ERROR
f.err_code = ProtoField.uint16("tokfab.error.code", "Error code", base.DEC, errors)
f.err_ref = ProtoField.uint8("tokfab.error.ref_type", "Refused type", base.HEX, types)
f.err_reserved = ProtoField.uint8("tokfab.error.reserved", "Reserved")
f.err_retry = ProtoField.uint32("tokfab.error.retry_after_ms", "Retry after (ms)")
f.err_detail = ProtoField.uint32("tokfab.error.detail", "Detail", base.HEX)

local ef_malformed = ProtoExpert.new("tokfab.malformed", "Malformed tokfab datagram",
	expert.group.MALFORMED, expert.severity.ERROR)
local ef_version = ProtoExpert.new("tokfab.unsupported_version", "Unsupported tokfab version",
	expert.group.PROTOCOL, expert.severity.WARN)
local ef_unsigned = ProtoExpert.new("tokfab.unsigned", "Unsigned message",
	expert.group.SECURITY, expert.severity.NOTE)
tokfab.experts = { ef_malformed, ef_version, ef_unsigned }

local function bad(tree, pinfo, what)
	tree:add_proto_expert_info(ef_malformed, what)
	pinfo.cols.info:append(" [MALFORMED: " .. what .. "]")
end

local function dissect_request(buf, pinfo, t, info)
	local n = buf:len()
	if n < 32 then return bad(t, pinfo, "REQUEST payload shorter than 32 bytes") end
	t:add_le(f.req_model, buf(0, 4))
	t:add_le(f.req_max_new, buf(4, 4))
	t:add_le(f.req_total, buf(8, 4))
	t:add_le(f.req_kind, buf(12, 1))
	t:add_le(f.req_priority, buf(13, 1))
	local ft = t:add_le(f.req_flags, buf(14, 2))
	ft:add_le(f.req_want_text, buf(14, 2))
	ft:add_le(f.req_final_tokens, buf(14, 2))
	t:add_le(f.req_temperature, buf(16, 2)):append_text(string.format(" (%.3f)", buf(16, 2):le_uint() / 1000))
	t:add_le(f.req_top_p, buf(18, 2)):append_text(string.format(" (%.4f)", buf(18, 2):le_uint() / 10000))
	t:add_le(f.req_reserved, buf(20, 4))
	t:add_le(f.req_seed, buf(24, 8))
	local plen = n - 32
	t:add(f.req_prompt_len, plen):set_generated()
	local kind = buf(12, 1):uint()
	if plen > 0 then
		if kind == 1 then
			t:add(f.req_prompt_text, buf(32, plen))
		else
			local pt = t:add(f.req_prompt_bytes, buf(32, plen))
			for i = 0, plen - 4, 4 do pt:add_le(f.req_prompt_token, buf(32 + i, 4)) end
		end
	end
	info[#info + 1] = string.format("model=%u max_new=%u prompt=%u/%u", buf(0, 4):le_uint(),
		buf(4, 4):le_uint(), plen, buf(8, 4):le_uint())
end

local function dissect_fragment(buf, pinfo, t, info)
	local n = buf:len()
	if n < 9 then return bad(t, pinfo, "REQ_FRAGMENT payload shorter than 9 bytes") end
	t:add_le(f.frag_total, buf(0, 4))
	t:add_le(f.frag_offset, buf(4, 4))
	t:add(f.frag_len, n - 8):set_generated()
	t:add(f.frag_data, buf(8, n - 8))
	info[#info + 1] = string.format("offset=%u len=%u total=%u", buf(4, 4):le_uint(), n - 8,
		buf(0, 4):le_uint())
end

-- A token chunk (a TOKENS payload, or the tail of a FINAL): n bytes of buf from b.
-- Returns its token count, or nil when it is malformed.
local function dissect_chunk(buf, b, pinfo, t, what)
	local n = buf:len() - b
	if n < 8 then return bad(t, pinfo, what .. " shorter than 8 bytes") end
	local cnt = buf(b + 4, 2):le_uint()
	local flags = buf(b + 6, 1):uint()
	t:add_le(f.tok_first, buf(b, 4))
	t:add_le(f.tok_n, buf(b + 4, 2))
	local ft = t:add(f.tok_flags, buf(b + 6, 1))
	ft:add(f.tok_has_text, buf(b + 6, 1))
	t:add(f.tok_reserved, buf(b + 7, 1))
	local has_text = bit32.band(flags, 1) ~= 0
	local need = 8 + 4 * cnt + (has_text and cnt or 0)
	if n < need or (not has_text and n ~= need) then
		return bad(t, pinfo, string.format("%u tokens need %u bytes, %s has %u", cnt, need, what, n))
	end
	for i = 0, cnt - 1 do t:add_le(f.tok_id, buf(b + 8 + 4 * i, 4)) end
	if has_text then
		local lens, off, sum = b + 8 + 4 * cnt, b + 8 + 5 * cnt, 0
		for i = 0, cnt - 1 do sum = sum + buf(lens + i, 1):uint() end
		if sum ~= n - 8 - 5 * cnt then
			return bad(t, pinfo, string.format("pieces add up to %u bytes, text is %u", sum,
				n - 8 - 5 * cnt))
		end
		for i = 0, cnt - 1 do
			local pl = buf(lens + i, 1):uint()
			t:add(f.tok_piece_len, buf(lens + i, 1))
			if pl > 0 then t:add(f.tok_piece, buf(off, pl)) end
			off = off + pl
		end
		if sum > 0 then t:add(f.tok_text, buf(b + 8 + 5 * cnt, sum)) end
	end
	return cnt
end

local function dissect_tokens(buf, pinfo, t, info)
	local cnt = dissect_chunk(buf, 0, pinfo, t, "TOKENS payload")
	if cnt then info[#info + 1] = string.format("seq=%u n=%u", buf(0, 4):le_uint(), cnt) end
end

local function dissect_final(buf, pinfo, t, info)
	local n = buf:len()
	if n < 32 then return bad(t, pinfo, "FINAL payload shorter than 32 bytes") end
	local has_tokens = bit32.band(buf(1, 1):uint(), 1) ~= 0
	if not has_tokens and n ~= 32 then return bad(t, pinfo, "FINAL payload is not 32 bytes") end
	t:add(f.fin_reason, buf(0, 1))
	local ft = t:add(f.fin_flags, buf(1, 1))
	ft:add(f.fin_has_tokens, buf(1, 1))
	t:add_le(f.fin_error, buf(2, 2))
	t:add_le(f.fin_prompt, buf(4, 4))
	t:add_le(f.fin_completion, buf(8, 4))
	t:add_le(f.fin_accel, buf(12, 4))
	t:add_le(f.fin_cost, buf(16, 8))
	t:add_le(f.fin_queue, buf(24, 4))
	t:add_le(f.fin_total, buf(28, 4))
	info[#info + 1] = string.format("%s prompt=%u completion=%u cost=%s",
		finish_reasons[buf(0, 1):uint()] or "?", buf(4, 4):le_uint(), buf(8, 4):le_uint(),
		tostring(buf(16, 8):le_uint64()))
	if has_tokens then
		local tt = t:add(tokfab, buf(32, n - 32), "Last tokens")
		local cnt = dissect_chunk(buf, 32, pinfo, tt, "FINAL token chunk")
		if cnt then
			info[#info + 1] = string.format("+ tokens seq=%u n=%u", buf(32, 4):le_uint(), cnt)
		end
	end
end

local function dissect_error(buf, pinfo, t, info)
	if buf:len() ~= 12 then return bad(t, pinfo, "ERROR payload is not 12 bytes") end
	t:add_le(f.err_code, buf(0, 2))
	t:add(f.err_ref, buf(2, 1))
	t:add(f.err_reserved, buf(3, 1))
	t:add_le(f.err_retry, buf(4, 4))
	t:add_le(f.err_detail, buf(8, 4))
	info[#info + 1] = (errors[buf(0, 2):le_uint()] or "UNKNOWN") ..
		(buf(4, 4):le_uint() > 0 and string.format(" retry_after=%ums", buf(4, 4):le_uint()) or "")
end

local function dissect_fixed(buf, pinfo, t, info, ty)
	local n = buf:len()
	if ty == 0x03 then
		if n ~= 0 then bad(t, pinfo, "CANCEL payload is not empty") end
	elseif ty == 0x04 then
		if n ~= 8 then return bad(t, pinfo, "RESUME payload is not 8 bytes") end
		t:add_le(f.resume_from, buf(0, 4))
		t:add_le(f.resume_reserved, buf(4, 4))
		info[#info + 1] = string.format("from=%u", buf(0, 4):le_uint())
	elseif ty == 0x05 then
		if n ~= 16 then return bad(t, pinfo, "PING payload is not 16 bytes") end
		t:add_le(f.ping_echo, buf(0, 8))
		t:add_le(f.ping_reserved, buf(8, 8))
	elseif ty == 0x84 then
		if n ~= 16 then return bad(t, pinfo, "PONG payload is not 16 bytes") end
		t:add_le(f.pong_echo, buf(0, 8))
		t:add(f.pong_min, buf(8, 1))
		t:add(f.pong_max, buf(9, 1))
		t:add_le(f.pong_max_dgram, buf(10, 2))
		t:add_le(f.pong_reserved, buf(12, 4))
	end
end

local function dissect(buf, pinfo, tree)
	local len = buf:len()
	if len < 4 or buf(0, 4):string() ~= "TKFB" then return 0 end
	pinfo.cols.protocol = "tokfab"
	local root = tree:add(tokfab, buf(), "tokfab")
	if len < HDR then
		bad(root, pinfo, string.format("%u bytes, shorter than the 32-byte header", len))
		return len
	end
	root:add(f.magic, buf(0, 4))
	root:add(f.version, buf(4, 1))
	local version = buf(4, 1):uint()
	if version ~= 1 then
		root:add_proto_expert_info(ef_version, "version " .. version .. " (this dissector speaks 1)")
		pinfo.cols.info:set("tokfab version " .. version)
		return len
	end
	local ty = buf(5, 1):uint()
	local alg = buf(7, 1):uint()
	local plen = buf(12, 2):le_uint()
	local ts = buf(24, 8):le_uint64()
	root:add(f.type, buf(5, 1))
	local ft = root:add(f.flags, buf(6, 1))
	ft:add(f.flag_retransmit, buf(6, 1))
	ft:add(f.flag_from_cache, buf(6, 1))
	root:add(f.mac_alg, buf(7, 1))
	root:add_le(f.tenant, buf(8, 4))
	root:add_le(f.payload_len, buf(12, 2))
	root:add(f.key_id, buf(14, 1))
	root:add(f.reserved, buf(15, 1))
	root:add_le(f.request_id, buf(16, 8))
	root:add_le(f.timestamp, buf(24, 8))
	local secs = (ts / 1000000):tonumber()
	local nsecs = (ts % 1000000):tonumber() * 1000
	root:add(f.timestamp_abs, buf(24, 8), NSTime.new(secs, nsecs)):set_generated()

	local name = types[ty] or string.format("type 0x%02x", ty)
	local info = { name, string.format("tenant=%u rid=0x%s", buf(8, 4):le_uint(),
		buf(16, 8):le_uint64():tohex()) }
	if bit32.band(buf(6, 1):uint(), 1) ~= 0 then info[#info + 1] = "[retransmit]" end
	if bit32.band(buf(6, 1):uint(), 2) ~= 0 then info[#info + 1] = "[from cache]" end
	pinfo.cols.info:set(table.concat(info, " "))
	root:append_text(", " .. name)

	local mac_len = (alg == 1 or alg == 2) and MAC_LEN or 0
	if alg > 2 then
		bad(root, pinfo, "unknown MAC algorithm " .. alg)
		return len
	end
	if alg == 0 then root:add_proto_expert_info(ef_unsigned, "no MAC (only ERROR may be unsigned)") end
	if len ~= HDR + plen + mac_len then
		bad(root, pinfo, string.format("datagram is %u bytes, header says %u", len, HDR + plen + mac_len))
		return len
	end
	local pt = root:add(tokfab, buf(HDR, plen), name .. " payload")
	local payload = buf(HDR, plen):tvb()
	if plen == 0 then payload = ByteArray.new():tvb("empty") end
	if ty == 0x01 then dissect_request(payload, pinfo, pt, info)
	elseif ty == 0x02 then dissect_fragment(payload, pinfo, pt, info)
	elseif ty == 0x81 then dissect_tokens(payload, pinfo, pt, info)
	elseif ty == 0x82 then dissect_final(payload, pinfo, pt, info)
	elseif ty == 0x83 then dissect_error(payload, pinfo, pt, info)
	elseif types[ty] then dissect_fixed(payload, pinfo, pt, info, ty)
	else bad(root, pinfo, string.format("unknown type 0x%02x", ty)) end
	if mac_len > 0 then root:add(f.mac, buf(HDR + plen, MAC_LEN)) end
	pinfo.cols.info:set(table.concat(info, " "))
	return len
end

function tokfab.dissector(buf, pinfo, tree)
	return dissect(buf, pinfo, tree)
end

local function heuristic(buf, pinfo, tree)
	if buf:len() < 4 or buf(0, 4):string() ~= "TKFB" then return false end
	dissect(buf, pinfo, tree)
	return true
end

DissectorTable.get("udp.port"):add(7480, tokfab)
tokfab:register_heuristic("udp", heuristic)
