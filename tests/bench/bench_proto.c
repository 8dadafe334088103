/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Micro-benchmark of the wire protocol receive path: decode + MAC verify of
 * one REQUEST, beside a plain memcpy of the same bytes (baseline), and the
 * HMAC-SHA256 variants OpenSSL 3 offers, so the choice made in
 * lib/proto/mac_hmac_sha256.c stays justified by numbers:
 *   midstate   libtfproto: SHA256_* resumed from pre-keyed midstates
 *   evp_md     EVP_MD_CTX_copy_ex from pre-keyed inner/outer digest contexts
 *   evp_mac    EVP_MAC_CTX_dup of a pre-keyed HMAC context per message
 *   hmac()     one-shot HMAC(), keyed on every call
 * and the candidates for a faster mac_alg (protocol.md 4.1), so mac_alg 2
 * stays justified too:
 *   siphash    libtfproto mac_alg 2: libsodium crypto_shorthash_siphashx24
 *   evp_sip    OpenSSL EVP_MAC "SIPHASH" (128-bit), re-initialised per message
 *   blake2b    libsodium keyed BLAKE2b, 16-byte tag
 *   cmac       OpenSSL EVP_MAC "CMAC" with AES-128-CBC, re-initialised per message
 *   poly1305   libsodium crypto_onetimeauth (reference only: needs a fresh key per
 *              message, i.e. a nonce scheme the protocol does not have)
 * Prints ns/op and ratios; never fails on a figure.
 * Usage: bench_proto [iterations] [prompt tokens]
 */
#include "tokfab/proto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t g_sink;

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct evp_md_hmac {
	EVP_MD_CTX *inner, *outer, *tmp;
};

static int
evp_md_hmac_init(struct evp_md_hmac *h, const uint8_t *key, size_t klen)
{
	uint8_t pad[64] = { 0 };

	h->inner = EVP_MD_CTX_new();
	h->outer = EVP_MD_CTX_new();
	h->tmp = EVP_MD_CTX_new();
	if (!h->inner || !h->outer || !h->tmp)
		return -1;
	for (size_t i = 0; i < 64; i++)
		pad[i] = (uint8_t)((i < klen ? key[i] : 0) ^ 0x36);
	EVP_DigestInit_ex(h->inner, EVP_sha256(), NULL);
	EVP_DigestUpdate(h->inner, pad, 64);
	for (size_t i = 0; i < 64; i++)
		pad[i] = (uint8_t)((i < klen ? key[i] : 0) ^ 0x5c);
	EVP_DigestInit_ex(h->outer, EVP_sha256(), NULL);
	EVP_DigestUpdate(h->outer, pad, 64);
	return 0;
}

static void
evp_md_hmac(struct evp_md_hmac *h, const uint8_t *d, size_t n, uint8_t *out)
{
	uint8_t ih[32];
	unsigned int len;

	EVP_MD_CTX_copy_ex(h->tmp, h->inner);
	EVP_DigestUpdate(h->tmp, d, n);
	EVP_DigestFinal_ex(h->tmp, ih, &len);
	EVP_MD_CTX_copy_ex(h->tmp, h->outer);
	EVP_DigestUpdate(h->tmp, ih, sizeof(ih));
	EVP_DigestFinal_ex(h->tmp, out, &len);
}

#define RUN(label, base, body)                                                                     \
	do {                                                                                       \
		double t0_ = now_ns();                                                             \
		for (long i_ = 0; i_ < iters; i_++) {                                              \
			body;                                                                      \
		}                                                                                  \
		double ns_ = (now_ns() - t0_) / (double)iters;                                     \
		if ((base) <= 0)                                                                   \
			base_ns = ns_;                                                             \
		printf("  %-34s %8.1f ns/op  %6.2f M/s  x%.1f vs memcpy\n", label, ns_, 1e3 / ns_, \
		       ns_ / base_ns);                                                             \
		last_ns = ns_;                                                                     \
	} while (0)

int
main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 1000000;
	uint32_t ntok = argc > 2 ? (uint32_t)atoi(argv[2]) : 16;
	uint8_t secret[32], prompt[4096], dgram[TF_PROTO_MAX_DGRAM], copy[TF_PROTO_MAX_DGRAM];
	uint8_t tag[64];
	struct tf_proto_key key;
	struct tf_proto_msg m = { 0 }, d;
	struct evp_md_hmac emd;
	EVP_MAC *mac;
	EVP_MAC_CTX *mctx;
	OSSL_PARAM params[2];
	double base_ns = 0, last_ns = 0, verify_ns;
	int n;

	if (iters <= 0 || ntok == 0 || ntok > 300) {
		fprintf(stderr, "usage: bench_proto [iterations > 0] [prompt tokens 1..300]\n");
		return 2;
	}
	for (unsigned i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)i;
	for (uint32_t i = 0; i < ntok; i++)
		tf_proto_st32(prompt + 4 * i, 1000 + i);
	tf_proto_key_init(&key, TF_PROTO_MAC_HMAC_SHA256, 0, secret, sizeof(secret));
	m.type = TF_PROTO_T_REQUEST;
	m.tenant_id = 42;
	m.request_id = 1;
	m.timestamp_us = 1767225600000000ull;
	m.u.req = (struct tf_proto_request){ .model_id = 7,
					     .max_new_tokens = 64,
					     .prompt_total_len = 4 * ntok,
					     .prompt_kind = TF_PROTO_PROMPT_TOKENS,
					     .priority = 3,
					     .top_p = 10000,
					     .prompt = prompt,
					     .prompt_len = 4 * ntok };
	n = tf_proto_encode(dgram, sizeof(dgram), &m, &key);
	if (n < 0) {
		fprintf(stderr, "encode: %s\n", tf_proto_reason_name(n));
		return 1;
	}
	if (evp_md_hmac_init(&emd, secret, sizeof(secret)))
		return 1;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	mctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!mctx || !EVP_MAC_init(mctx, secret, sizeof(secret), params)) {
		fprintf(stderr, "EVP_MAC HMAC unavailable\n");
		return 1;
	}

	printf("bench_proto: REQUEST of %d bytes (%u prompt tokens), %ld iterations\n", n, ntok,
	       iters);
	RUN("baseline: memcpy of the datagram", 0, {
		memcpy(copy, dgram, (size_t)n);
		__asm__ volatile("" : : "r"(copy) : "memory");
		g_sink += copy[i_ & 63];
	});
	RUN("decode (header + body)", 1, {
		dgram[24] = (uint8_t)i_;
		g_sink += (uint64_t)tf_proto_decode(dgram, (size_t)n, &d) + d.u.req.model_id;
	});
	RUN("decode + verify (libtfproto)", 1, {
		dgram[24] = (uint8_t)i_; /* defeat caching; MAC then fails, same work */
		g_sink += (uint64_t)tf_proto_decode(dgram, (size_t)n, &d);
		g_sink += (uint64_t)tf_proto_verify(&key, &d);
	});
	verify_ns = last_ns;
	RUN("mac: midstate SHA256_* (libtfproto)", 1, {
		dgram[24] = (uint8_t)i_;
		tf_proto_mac(&key, dgram, (size_t)n - TF_PROTO_MAC_LEN, tag);
		g_sink += tag[0];
	});
	RUN("mac: EVP_MD_CTX_copy_ex midstates", 1, {
		dgram[24] = (uint8_t)i_;
		evp_md_hmac(&emd, dgram, (size_t)n - TF_PROTO_MAC_LEN, tag);
		g_sink += tag[0];
	});
	RUN("mac: EVP_MAC_CTX_dup per message", 1, {
		EVP_MAC_CTX *c = EVP_MAC_CTX_dup(mctx);
		size_t tl;

		dgram[24] = (uint8_t)i_;
		EVP_MAC_update(c, dgram, (size_t)n - TF_PROTO_MAC_LEN);
		EVP_MAC_final(c, tag, &tl, sizeof(tag));
		EVP_MAC_CTX_free(c);
		g_sink += tag[0];
	});
	RUN("mac: HMAC() one-shot, keyed per call", 1, {
		unsigned int tl;

		dgram[24] = (uint8_t)i_;
		HMAC(EVP_sha256(), secret, sizeof(secret), dgram, (size_t)n - TF_PROTO_MAC_LEN, tag,
		     &tl);
		g_sink += tag[0];
	});
	printf("  => decode+verify: %.1f ns/request = %.2f M requests/s per core (%.1fx memcpy)\n",
	       verify_ns, 1e3 / verify_ns, verify_ns / base_ns);
	{
		/* mac_alg 2 and the other candidates, on the same bytes. */
		struct tf_proto_key sk;
		EVP_MAC *sm = EVP_MAC_fetch(NULL, "SIPHASH", NULL),
			*cm = EVP_MAC_fetch(NULL, "CMAC", NULL);
		EVP_MAC_CTX *sc = sm ? EVP_MAC_CTX_new(sm) : NULL,
			    *cc = cm ? EVP_MAC_CTX_new(cm) : NULL;
		size_t sip_len = 16;
		OSSL_PARAM sp[2] = { OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &sip_len),
				     OSSL_PARAM_construct_end() };
		OSSL_PARAM cp[2] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
								      (char *)"AES-128-CBC", 0),
				     OSSL_PARAM_construct_end() };
		double sip_ns;
		int sn;

		if (sodium_init() < 0 || !sc || !cc || !EVP_MAC_init(sc, secret, 16, sp) ||
		    !EVP_MAC_init(cc, secret, 16, cp)) {
			fprintf(stderr, "SipHash/CMAC candidates unavailable\n");
			return 1;
		}
		tf_proto_key_init(&sk, TF_PROTO_MAC_SIPHASH, 0, secret, sizeof(secret));
		sn = tf_proto_encode(copy, sizeof(copy), &m, &sk);
		if (sn != n) {
			fprintf(stderr, "SipHash encode: %d\n", sn);
			return 1;
		}
		RUN("decode + verify, mac_alg 2 SipHash", 1, {
			copy[24] = (uint8_t)i_;
			g_sink += (uint64_t)tf_proto_decode(copy, (size_t)n, &d);
			g_sink += (uint64_t)tf_proto_verify(&sk, &d);
		});
		sip_ns = last_ns;
		RUN("mac: SipHash-2-4-128 (libtfproto alg 2)", 1, {
			dgram[24] = (uint8_t)i_;
			tf_proto_mac(&sk, dgram, (size_t)n - TF_PROTO_MAC_LEN, tag);
			g_sink += tag[0];
		});
		RUN("mac: EVP_MAC SIPHASH-128, re-init", 1, {
			size_t tl;

			dgram[24] = (uint8_t)i_;
			EVP_MAC_init(sc, NULL, 0, NULL);
			EVP_MAC_update(sc, dgram, (size_t)n - TF_PROTO_MAC_LEN);
			EVP_MAC_final(sc, tag, &tl, sizeof(tag));
			g_sink += tag[0];
		});
		RUN("mac: keyed BLAKE2b-128 (libsodium)", 1, {
			dgram[24] = (uint8_t)i_;
			crypto_generichash(tag, 16, dgram, (size_t)n - TF_PROTO_MAC_LEN, secret,
					   32);
			g_sink += tag[0];
		});
		RUN("mac: EVP_MAC CMAC-AES-128, re-init", 1, {
			size_t tl;

			dgram[24] = (uint8_t)i_;
			EVP_MAC_init(cc, NULL, 0, NULL);
			EVP_MAC_update(cc, dgram, (size_t)n - TF_PROTO_MAC_LEN);
			EVP_MAC_final(cc, tag, &tl, sizeof(tag));
			g_sink += tag[0];
		});
		RUN("mac: Poly1305 one-time (reference)", 1, {
			dgram[24] = (uint8_t)i_;
			crypto_onetimeauth(tag, dgram, (size_t)n - TF_PROTO_MAC_LEN, secret);
			g_sink += tag[0];
		});
		printf("  => decode+verify with SipHash: %.1f ns/request = %.2f M requests/s per "
		       "core "
		       "(%.2fx the HMAC figure)\n",
		       sip_ns, 1e3 / sip_ns, sip_ns / verify_ns);
		EVP_MAC_CTX_free(sc);
		EVP_MAC_CTX_free(cc);
		EVP_MAC_free(sm);
		EVP_MAC_free(cm);
	}
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(mac);
	EVP_MD_CTX_free(emd.inner);
	EVP_MD_CTX_free(emd.outer);
	EVP_MD_CTX_free(emd.tmp);
	return 0;
}
