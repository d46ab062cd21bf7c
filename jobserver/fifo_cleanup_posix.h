#pragma once

/// Internal: removes the FIFOs of live Servers when the process dies of
/// SIGINT or SIGTERM, so an interrupted tool leaves nothing in $TMPDIR.
///
/// The handler is installed only where the disposition is still SIG_DFL: an
/// application with its own handling (tierun blocks the signals and reads
/// them from a signalfd) shuts its Servers down itself. The handler unlinks
/// the registered paths with async-signal-safe calls, restores SIG_DFL and
/// re-raises, so the exit status still says "killed by signal".

namespace jobserver::internal {

/// Registers a FIFO and its private directory; returns a slot id, or -1 when
/// the table is full or the paths are too long (cleanup then relies on RAII).
int RegisterFifoForCleanup(const char* fifo_path, const char* dir_path);
void UnregisterFifoForCleanup(int slot);

}  // namespace jobserver::internal
