/* notify.h - systemd's readiness protocol (sd_notify) without libsystemd.
 *
 * Each message is one datagram to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 * When NOTIFY_SOCKET is unset every function does nothing and returns 0.
 */
#ifndef KVS_NOTIFY_H
#define KVS_NOTIFY_H

#include <stdint.h>

/* Send `msg` ("READY=1", "STATUS=...\nRELOADING=1", ...).  Returns 0 (also
 * when there is no NOTIFY_SOCKET) or a negative errno. */
int notify_send(const char *msg);
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Half of $WATCHDOG_USEC in milliseconds when the watchdog is enabled for
 * this process ($WATCHDOG_PID unset or ours), else 0. */
uint64_t notify_watchdog_interval_ms(void);

#endif
