/* hex.c - lower-case hex (see hex.h). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hex.h"

void hex_encode(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int hex_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (nibble(s[i]) < 0)
			return 0;
	return 1;
}

int hex_decode(const char *s, unsigned char *out, size_t n)
{
	unsigned char d[64];

	if (!s || n > sizeof(d))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(s[2 * i]), lo = hi < 0 ? -1 : nibble(s[2 * i + 1]);

		if (lo < 0)
			return -EINVAL;
		d[i] = (unsigned char)(hi << 4 | lo);
	}
	if (s[2 * n] != '\0')
		return -EINVAL;
	memcpy(out, d, n);
	return 0;
}
