/* edge-uplink: the program's main loop (input -> spool -> MQTT). */
#ifndef EDGE_UPLINK_UPLINK_H
#define EDGE_UPLINK_UPLINK_H

#include "options.h"

/* Exit statuses */
#define UPLINK_EXIT_OK 0
#define UPLINK_EXIT_ERROR 1
#define UPLINK_EXIT_USAGE 2
#define UPLINK_EXIT_NOT_DRAINED 3

/* Run until a signal, an error or (with --exit-when-drained) the end of the work; the exit
 * status. client_id: the MQTT client id to use; version: for the start-up line. */
int uplink_run(const struct options *opt, const char *client_id, const char *version);

#endif
