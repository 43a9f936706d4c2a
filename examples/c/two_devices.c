/* Two devices of one group, in C, with meshseal's C API:
 *
 *   - a sensor (member 3) seals temperature readings; the controller (member 1) opens them;
 *   - the controller sends "lamp on" as a timed command repeated 3 times over 30 s, because
 *     the lamp (member 2) sleeps and wakes for a moment now and then; the lamp hears two of
 *     the copies and switches on once: the second copy is a duplicate, not a second command;
 *   - the lamp saves its replay state before it acts, loses power, restores the state at
 *     boot, and refuses the same command when an attacker replays it.
 *
 * Each device's counter lives in a "flash" variable through the two counter callbacks; a real
 * device writes them to flash, EEPROM or FRAM. Exit status 0 when the story runs as told.
 * Build: cmake -S examples/c -B build/c && cmake --build build/c && build/c/two-devices */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "meshseal.h"

/* One device's counter record, as its flash would hold it. */
typedef struct {
    int present;
    uint64_t limit;
} counter_flash;

static int32_t flash_load(void *user, uint64_t *limit) {
    counter_flash *f = user;
    if (!f->present) return 0;
    *limit = f->limit;
    return 1;
}

static int32_t flash_store(void *user, uint64_t limit) {
    counter_flash *f = user;
    f->limit = limit;
    f->present = 1;
    return 0;
}

static int failed;

static void expect(MeshsealResult got, MeshsealResult want, const char *what) {
    if (got != want) {
        printf("  FAILED %s: %s, expected %s\n", what, meshseal_result_name(got),
               meshseal_result_name(want));
        failed = 1;
    }
}

/* The group's keys: every member derives them from the master secret it was provisioned
 * with (here a constant; a device receives it with its group file). */
static const uint8_t master_secret[32] = "an example master secret, 32 B.";
enum { GROUP_ID = 42, EPOCH = 0, CONTROLLER = 1, LAMP = 2, SENSOR = 3 };

static MeshsealKeys keys;
static MeshsealSender sensor_tx, controller_tx;
static MeshsealRecipient controller_rx, lamp_rx;
static counter_flash sensor_flash, controller_flash;

static void boot_lamp(void) {
    MeshsealRecipientConfig cfg = meshseal_recipient_config_default(1, 3);
    cfg.has_own_id = 1;
    cfg.own_id = LAMP;
    expect(meshseal_recipient_init(&lamp_rx, &keys, &cfg), MESHSEAL_RESULT_OK, "lamp init");
    /* The lamp's clock, in the group's time unit (seconds here), and how old a timed
     * command may be. */
    meshseal_recipient_set_clock(&lamp_rx, 1000, 60);
}

int main(void) {
    expect(meshseal_derive(master_secret, sizeof master_secret, NULL, 0, GROUP_ID, EPOCH, &keys),
           MESHSEAL_RESULT_OK, "derive");

    /* Provisioning, once per device: the counter record starts at 0. Every later boot calls
     * meshseal_sender_init, which refuses a missing record instead of reusing numbers. */
    MeshsealSenderConfig scfg = meshseal_sender_config_default(SENSOR);
    expect(meshseal_sender_provision(&sensor_tx, &keys, &scfg, flash_load, flash_store,
                                     &sensor_flash),
           MESHSEAL_RESULT_OK, "sensor provision");
    MeshsealSenderConfig ccfg = meshseal_sender_config_default(CONTROLLER);
    expect(meshseal_sender_provision(&controller_tx, &keys, &ccfg, flash_load, flash_store,
                                     &controller_flash),
           MESHSEAL_RESULT_OK, "controller provision");
    MeshsealRecipientConfig rcfg = meshseal_recipient_config_default(1, 3);
    rcfg.has_own_id = 1;
    rcfg.own_id = CONTROLLER;
    expect(meshseal_recipient_init(&controller_rx, &keys, &rcfg), MESHSEAL_RESULT_OK,
           "controller init");
    boot_lamp();
    /* Everyone is new: no member has sealed under these keys yet. */
    meshseal_recipient_provision(&controller_rx, SENSOR);
    meshseal_recipient_provision(&lamp_rx, CONTROLLER);

    /* 1. The sensor reports; the controller reads. */
    printf("sensor -> controller\n");
    for (int i = 0; i < 3; i++) {
        char reading[16];
        uint8_t frame[64];
        size_t n = 0;
        int len = snprintf(reading, sizeof reading, "temp=%d", 20 + i);
        expect(meshseal_seal(&sensor_tx, (const uint8_t *)reading, (size_t)len, frame,
                             sizeof frame, &n),
               MESHSEAL_RESULT_OK, "sensor seal");
        MeshsealOpened o;
        expect(meshseal_open(&controller_rx, frame, n, MESHSEAL_CLASS_TELEMETRY, &o),
               MESHSEAL_RESULT_OK, "controller open");
        printf("  %zu bytes on air (%d of payload): member %u says %.*s\n", n, len, o.sender,
               (int)o.payload_len, (const char *)frame + o.payload_offset);
    }

    /* 2. The controller commands the sleepy lamp: one frame, sent as 3 copies over 30 s. */
    printf("controller -> lamp (asleep most of the time)\n");
    MeshsealSeal how = meshseal_seal_options_default();
    how.has_time = 1;
    how.time = 1000;
    how.has_repeat = 1;
    how.repeat_copies = 3;
    how.repeat_window = 30;
    uint8_t command[64], copy[64], saved_command[64];
    size_t n = 0;
    expect(meshseal_seal_with(&controller_tx, (const uint8_t *)"lamp on", 7, &how, command,
                              sizeof command, &n),
           MESHSEAL_RESULT_OK, "controller seal");
    memcpy(saved_command, command, n);
    MeshsealOpen act = meshseal_open_options_default();
    act.traffic_class = MESHSEAL_CLASS_ACTUATION;
    int switched_on = 0;
    for (int c = 1; c <= 3; c++) {
        if (c == 1) {
            printf("  copy 1: the lamp sleeps through it\n");
            continue;
        }
        memcpy(copy, command, n);
        MeshsealOpened o;
        MeshsealResult r = meshseal_open_with(&lamp_rx, copy, n, &act, &o);
        if (r == MESHSEAL_RESULT_OK) {
            /* Save the replay state before acting: a power cut after acting must not let
             * the same command in again. */
            uint8_t state[MESHSEAL_STATE_MAX];
            size_t state_len = 0;
            expect(meshseal_recipient_save(&lamp_rx, state, sizeof state, &state_len),
                   MESHSEAL_RESULT_OK, "lamp save");
            switched_on++;
            printf("  copy %d: \"%.*s\" from member %u: the lamp switches on (state saved, %zu "
                   "bytes)\n",
                   c, (int)o.payload_len, (const char *)copy + o.payload_offset, o.sender,
                   state_len);

            /* 3. Power cut: the lamp reboots and restores what it saved. */
            meshseal_recipient_clear(&lamp_rx);
            boot_lamp();
            expect(meshseal_recipient_restore(&lamp_rx, state, state_len,
                                              MESHSEAL_RESTORE_EXACT),
                   MESHSEAL_RESULT_OK, "lamp restore");
            printf("  the lamp loses power and reboots with its saved state\n");
        } else {
            printf("  copy %d: %s: the lamp already acted on this command\n", c,
                   meshseal_result_name(r));
            expect(r, MESHSEAL_RESULT_DUPLICATE, "later copy");
        }
    }
    if (switched_on != 1) {
        printf("  FAILED: the lamp switched on %d times\n", switched_on);
        failed = 1;
    }

    /* 4. Later, past the command's window and the clock tolerance (60 s), an attacker replays
     * the recorded command. */
    meshseal_recipient_set_clock(&lamp_rx, 1100, 60);
    MeshsealOpened o;
    MeshsealResult r = meshseal_open_with(&lamp_rx, saved_command, n, &act, &o);
    printf("attacker replays the command later: %s\n", meshseal_result_name(r));
    expect(r, MESHSEAL_RESULT_REPLAY, "replayed command");

    meshseal_sender_clear(&sensor_tx);
    meshseal_sender_clear(&controller_tx);
    meshseal_recipient_clear(&controller_rx);
    meshseal_recipient_clear(&lamp_rx);
    meshseal_keys_clear(&keys);
    printf(failed ? "FAILED\n" : "ok\n");
    return failed;
}
