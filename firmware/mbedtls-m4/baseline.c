/* Comparison baseline: the same start-up, reporting and C library, no Mbed TLS. */
#include <stddef.h>

void sh_puts(const char *s);
void sh_put_uint(const char *label, unsigned v);
void stack_paint(void);
size_t stack_high_water(void);
size_t heap_high_water(void);
void *__wrap_calloc(size_t n, size_t size);
void __wrap_free(void *p);

int main(void) {
    stack_paint();
    void *p = __wrap_calloc(1, 1);
    __wrap_free(p);
    sh_put_uint("baseline stack=", (unsigned)stack_high_water());
    sh_put_uint(" heap=", (unsigned)heap_high_water());
    sh_puts("\n");
    return 0;
}
