// Process-wide pieces of fsjournal: stopping on SIGINT/SIGTERM, and removing
// the temporary directories it made even when stopped by a signal.
#pragma once

#include <string>

namespace fsr::journal::cli {

// Takes SIGINT and SIGTERM on a thread of its own, and ignores SIGPIPE (a
// closed stdout shows as a failed std::cout; output loops stop on it). Once a signal arrives,
// stop_requested() turns true; unless a command declared itself interruptible
// (it polls stop_requested() and returns), the temporary directories are
// removed and the process exits with 128 + signal.
void install_stop_signals();
void set_interruptible(bool interruptible);
bool stop_requested();

// Directories to remove when the process is stopped by a signal (the normal
// path removes them itself and forgets them).
void remember_temp_dir(const std::string& path);
void forget_temp_dir(const std::string& path);

}  // namespace fsr::journal::cli
