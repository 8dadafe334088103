#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Writes the seed corpora of the tokfab-dp fuzz targets:
#   tests/fuzz/corpus/dp_frame/    whole Ethernet frames (ARP, ICMP, signed requests)
#   tests/fuzz/corpus/dp_session/  [u8 delay][u16 len][datagram] records
# Key: tenant 42, key id 0, secret 00 01 .. 1f (protocol.md section 9).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$root/tests/fuzz/corpus" <<'EOF'
import hashlib, hmac, os, struct, sys

out = sys.argv[1]
KEY = bytes(range(32))
CARD_MAC, CLI_MAC = bytes.fromhex("02ca00000001"), bytes.fromhex("02c100000002")
CARD_IP, CLI_IP = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2])
TS = 1767225600000000

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def msg(typ, rid, payload, flags=0, alg=1):
    # alg 2 (SipHash): the tag here is a placeholder; the session fuzzer re-signs every datagram.
    hdr = b"TKFB" + bytes([1, typ, flags, alg]) + struct.pack("<IHBBQQ", 42, len(payload), 0, 0, rid, TS)
    return hdr + payload + hmac.new(KEY, hdr + payload, hashlib.sha256).digest()[:16]

def request(rid, ids, total=None, first=None, max_new=8, kind=0):
    prompt = b"".join(struct.pack("<I", i) for i in ids)
    total = len(prompt) if total is None else total
    part = prompt if first is None else prompt[:first]
    return msg(1, rid, struct.pack("<IIIBBHHHIQ", 7, max_new, total, kind, 3, 0, 700, 9000, 0, rid) + part)

def fragment(rid, total, off, data):
    return msg(2, rid, struct.pack("<II", total, off) + data)

def udp_frame(dgram):
    udp = struct.pack("!HHHH", 40000, 7480, 8 + len(dgram), 0) + dgram
    pseudo = CLI_IP + CARD_IP + struct.pack("!BBH", 0, 17, len(udp))
    udp = udp[:6] + struct.pack("!H", csum(pseudo + udp) or 0xffff) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0, CLI_IP, CARD_IP)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return CARD_MAC + CLI_MAC + b"\x08\x00" + ip + udp

def write(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)

arp = (b"\xff" * 6 + CLI_MAC + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) +
       CLI_MAC + CLI_IP + b"\0" * 6 + CARD_IP)
write("dp_frame", "arp", arp)
icmp = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + bytes(range(32))
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0, CLI_IP, CARD_IP)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
write("dp_frame", "icmp", CARD_MAC + CLI_MAC + b"\x08\x00" + ip + icmp)
write("dp_frame", "request", udp_frame(request(1, [1, 2, 3])))
write("dp_frame", "ping", udp_frame(msg(5, 2, struct.pack("<QQ", 9, 0))))
vlan = udp_frame(request(3, [4, 5]))
write("dp_frame", "request-vlan", vlan[:12] + b"\x81\x00\x00\x64" + vlan[12:])

def rec(dgram, delay=0):
    return bytes([delay]) + struct.pack("<H", len(dgram)) + dgram

ids = list(range(1, 101))                      # 400 bytes of prompt
write("dp_session", "single", rec(request(10, [1, 2, 3])))
write("dp_session", "fragments", rec(request(11, ids, first=128)) +
      rec(fragment(11, 400, 256, struct.pack("<36I", *ids[64:]))) +
      rec(fragment(11, 400, 128, struct.pack("<32I", *ids[32:64]))))
write("dp_session", "fragments-first", rec(fragment(12, 400, 128, bytes(272))) +
      rec(request(12, ids, first=128)))
write("dp_session", "overlap", rec(request(13, ids, first=128)) + rec(fragment(13, 400, 64, bytes(128))))
write("dp_session", "gap", rec(request(14, ids, first=128), 250))
write("dp_session", "cancel-resume", rec(request(15, [7, 8])) + rec(msg(3, 15, b"")) +
      rec(msg(4, 15, struct.pack("<II", 1, 0))))
write("dp_session", "retransmit", rec(request(16, [9])) + rec(request(16, [9]), 5))
write("dp_session", "text", rec(request(17, [], max_new=4, kind=1)[:0] +
      msg(1, 17, struct.pack("<IIIBBHHHIQ", 7, 4, 5, 1, 3, 1, 0, 10000, 0, 17) + b"h\xc3\xa9ll")))
write("dp_session", "ping", rec(msg(5, 18, struct.pack("<QQ", 1, 0))))
# SipHash (mac_alg 2) and FINAL_TOKENS (req_flags bit 1): the tokens ride in the FINAL.
write("dp_session", "siphash-final-tokens",
      rec(msg(1, 19, struct.pack("<IIIBBHHHIQ", 7, 4, 8, 0, 3, 2, 0, 10000, 0, 19) +
              struct.pack("<II", 1, 2), alg=2)) +
      rec(msg(4, 19, struct.pack("<II", 1, 0), alg=2), 5) +
      rec(request(19, [1, 2]), 5))
EOF
echo "dp seeds: $(ls "$root/tests/fuzz/corpus/dp_frame" | wc -l) frames, $(ls "$root/tests/fuzz/corpus/dp_session" | wc -l) sessions"
