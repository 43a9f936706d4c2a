/* What startup.c gives the firmwares it starts: semihosting output, stack painting, the heap
 * high-water mark, and instruction counting with SysTick under QEMU -icount. */
#ifndef MESHSEAL_FIRMWARE_STARTUP_H
#define MESHSEAL_FIRMWARE_STARTUP_H

#include <stddef.h>
#include <stdint.h>

void sh_puts(const char *s);
void sh_put_uint(const char *label, unsigned v);
void stack_paint(void);
size_t stack_high_water(void);
void stack_note(void);
size_t stack_max_seen(void);
size_t heap_high_water(void);
size_t heap_live(void);
void timer_start(void);
uint32_t timer_now(void);
uint32_t timer_ticks(uint32_t start, uint32_t end);
uint32_t insns_per_tick(void);

#endif
