/* The AEABI memory helpers the Rust library calls (`__aeabi_memset`, `__aeabi_memclr` and
 * their word-aligned forms) as forwarders to the firmware's own memset, which a C firmware
 * links anyway. Without them the firmware links the library's weak copies (about 400 B, from
 * Rust's compiler_builtins) or newlib's (about 160 B). docs/porting.md gives this file to
 * firmware teams; __aeabi_memcpy is aliased to memcpy with --defsym instead (same arguments). */
#include <stddef.h>
#include <string.h>

void __aeabi_memset(void *dest, size_t n, int c);
void __aeabi_memset4(void *dest, size_t n, int c) __attribute__((alias("__aeabi_memset")));
void __aeabi_memset8(void *dest, size_t n, int c) __attribute__((alias("__aeabi_memset")));
void __aeabi_memclr(void *dest, size_t n);
void __aeabi_memclr4(void *dest, size_t n) __attribute__((alias("__aeabi_memclr")));
void __aeabi_memclr8(void *dest, size_t n) __attribute__((alias("__aeabi_memclr")));

/* The AEABI order is (dest, n, c); memset's is (dest, c, n). */
void __aeabi_memset(void *dest, size_t n, int c) { memset(dest, c, n); }

void __aeabi_memclr(void *dest, size_t n) { memset(dest, 0, n); }
