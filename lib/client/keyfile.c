/* SPDX-License-Identifier: BSD-3-Clause */
/* Key files: the protocol's reader (tf_proto_keyfile_read), a 32-byte secret. */
#include "tokfab/client.h"

int
tf_client_load_key(const char *path, uint8_t key[TF_PROTO_KEY_LEN], bool *world_readable, char *err,
		   size_t errlen)
{
	size_t len;

	return tf_proto_keyfile_read(path, TF_PROTO_KEY_LEN, TF_PROTO_KEY_LEN, key, &len,
				     world_readable, err, errlen);
}
