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

/* Heap accounting, per side (the loopback build runs a client and a server). */
int heap_side;
static size_t heap_now[2], heap_peak[2];
void *__real_calloc(size_t n, size_t size);
void __real_free(void *p);

void *__wrap_calloc(size_t n, size_t size) {
    size_t bytes = n * size;
    if (size && bytes / size != n) return NULL;
    uint64_t *p = __real_calloc(1, bytes + 8);
    if (!p) return NULL;
    int side = heap_side & 1;
    p[0] = (uint64_t)bytes | ((uint64_t)side << 32);
    heap_now[side] += bytes;
    if (heap_now[side] > heap_peak[side]) heap_peak[side] = heap_now[side];
    return p + 1;
}

void __wrap_free(void *q) {
    if (!q) return;
    uint64_t *p = (uint64_t *)q - 1;
    heap_now[(p[0] >> 32) & 1] -= (size_t)(p[0] & 0xffffffffu);
    __real_free(p);
}

/* Peak heap of side 0 (the client, or the only side). */
size_t heap_high_water(void) { return heap_peak[0]; }

/* Heap of side 0 allocated now (what a kept session holds between records). */
size_t heap_live(void) { return heap_now[0]; }

/* SysTick on the core clock; under QEMU -icount it advances with instructions executed. */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

void timer_start(void) {
    SYST_RVR = 0x00ffffffu;
    SYST_CVR = 0;
    SYST_CSR = 5;
}

uint32_t timer_now(void) { return SYST_CVR; }

uint32_t timer_ticks(uint32_t start, uint32_t end) { return (start - end) & 0x00ffffffu; }

/* Instructions per tick, from a loop of two instructions per iteration. */
uint32_t insns_per_tick(void) {
    uint32_t n = 1000000, start = timer_now();
    __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n));
    uint32_t t = timer_ticks(start, timer_now());
    return (2000000u + t / 2) / (t ? t : 1);
}

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

/* Stack painting for repeated measurements from one caller: the largest high-water mark. */
size_t stack_high_water(void);
static size_t stack_max;
void stack_note(void) {
    size_t s = stack_high_water();
    if (s > stack_max) stack_max = s;
}
size_t stack_max_seen(void) { return stack_max; }

size_t stack_high_water(void) {
    uint32_t *a = (uint32_t *)((paint_top - 64 - PAINT) & ~3u);
    while ((uintptr_t)a < paint_top && *(volatile uint32_t *)a == PATTERN) a++;
    return paint_top - (uintptr_t)a;
}

/* newlib's sbrk (libnosys) grows the heap from `end`; nothing else is needed. */

__attribute__((noreturn)) void Reset_Handler(void) {
    /* The FPU on (CPACR: CP10 and CP11 full access): code built for the hard-float ABI may use
     * its registers anywhere, memcpy of 8-byte fields included. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");
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
