/* Minimal Cortex-M4 start-up for QEMU mps2-an386: vector table, .data/.bss set-up,
 * semihosting output and exit, stack painting, and counting wrappers around calloc/free
 * (linked with -Wl,--wrap=calloc,--wrap=free) that record the heap high-water mark. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_puts(const char *s) { semihost(0x04, s); }

void sh_put_uint(const char *label, unsigned v) {
    char buf[16];
    int i = sizeof buf - 1;
    buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v && i > 0);
    sh_puts(label);
    sh_puts(&buf[i]);
}

__attribute__((noreturn)) void sh_exit(int ok) {
    /* SYS_EXIT with ADP_Stopped_ApplicationExit (0x20026) or RunTimeErrorUnknown (0x20023). */
    semihost(0x18, (const void *)(uintptr_t)(ok ? 0x20026 : 0x20023));
    for (;;) {}
}

/* Heap accounting. */
static size_t heap_now, heap_peak;
void *__real_calloc(size_t n, size_t size);
void __real_free(void *p);

void *__wrap_calloc(size_t n, size_t size) {
    size_t bytes = n * size;
    if (size && bytes / size != n) return NULL;
    uint64_t *p = __real_calloc(1, bytes + 8);
    if (!p) return NULL;
    p[0] = bytes;
    heap_now += bytes;
    if (heap_now > heap_peak) heap_peak = heap_now;
    return p + 1;
}

void __wrap_free(void *q) {
    if (!q) return;
    uint64_t *p = (uint64_t *)q - 1;
    heap_now -= (size_t)p[0];
    __real_free(p);
}

size_t heap_high_water(void) { return heap_peak; }

/* Stack painting below the caller's frame. */
#define PAINT (32u * 1024u)
#define PATTERN 0x5aa5c33cu
static uintptr_t paint_top;

__attribute__((noinline)) void stack_paint(void) {
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    paint_top = sp;
    for (volatile uint32_t *a = (uint32_t *)((sp - 64 - PAINT) & ~3u); (uintptr_t)a < sp - 64; a++)
        *a = PATTERN;
}

size_t stack_high_water(void) {
    uint32_t *a = (uint32_t *)((paint_top - 64 - PAINT) & ~3u);
    while ((uintptr_t)a < paint_top && *(volatile uint32_t *)a == PATTERN) a++;
    return paint_top - (uintptr_t)a;
}

/* newlib's sbrk (libnosys) grows the heap from `end`; nothing else is needed. */

__attribute__((noreturn)) void Reset_Handler(void) {
    memcpy(&_sdata, &_sidata, (size_t)((char *)&_edata - (char *)&_sdata));
    memset(&_sbss, 0, (size_t)((char *)&_ebss - (char *)&_sbss));
    sh_exit(main() == 0);
}

static void Default_Handler(void) { sh_exit(0); }

__attribute__((section(".isr_vector"), used)) static const void *const vectors[16] = {
    &_estack,        Reset_Handler,   Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0,
    0,               0,               0,               Default_Handler,
    Default_Handler, 0,               Default_Handler, Default_Handler,
};
