/* config.h plus the server side, for the loopback measurement (loopback.c) only. */
#define MBEDTLS_SSL_SRV_C
#include "config.h"
