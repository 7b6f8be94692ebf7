/* country.h - ISO 3166-1 alpha-2 country codes. */
#ifndef KVS_COUNTRY_H
#define KVS_COUNTRY_H

#include <stddef.h>

/* 1 if s is an officially assigned alpha-2 code (upper case), else 0. */
int country_valid(const char *s);
size_t country_count(void);

#endif
