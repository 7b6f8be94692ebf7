/* country.c - ISO 3166-1 alpha-2 country codes (officially assigned). */
#include "config.h"

#include <string.h>

#include "country.h"

/* The 249 officially assigned alpha-2 codes, sorted, two letters each. */
static const char codes[] =
	"ADAEAFAGAIALAMAOAQARASATAUAWAXAZ"
	"BABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ"
	"CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZ"
	"DEDJDKDMDODZ"
	"ECEEEGEHERESETFIFJFKFMFOFR"
	"GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGY"
	"HKHMHNHRHTHU"
	"IDIEILIMINIOIQIRISIT"
	"JEJMJOJP"
	"KEKGKHKIKMKNKPKRKWKYKZ"
	"LALBLCLILKLRLSLTLULVLY"
	"MAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZ"
	"NANCNENFNGNINLNONPNRNUNZ"
	"OM"
	"PAPEPFPGPHPKPLPMPNPRPSPTPWPY"
	"QA"
	"RERORSRURW"
	"SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZ"
	"TCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZ"
	"UAUGUMUSUYUZ"
	"VAVCVEVGVIVNVU"
	"WFWS"
	"YEYT"
	"ZAZMZW";

int country_valid(const char *s)
{
	size_t lo = 0, hi = (sizeof(codes) - 1) / 2;

	if (strlen(s) != 2)
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(s, codes + 2 * mid, 2);

		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

size_t country_count(void)
{
	return (sizeof(codes) - 1) / 2;
}
