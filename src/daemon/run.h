/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/run.h - the `run` verb: the proxy daemon.
 */
#ifndef PC_DAEMON_RUN_H
#define PC_DAEMON_RUN_H

/* argv[0] is "run". Returns the exit status (0, 1 failure, 2 usage). */
int pc_daemon_run(int argc, char **argv);

#endif /* PC_DAEMON_RUN_H */
