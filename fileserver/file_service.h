// The stand-in's request handling: GET, PUT and DELETE of
// /api/fileserver/{name} over one data directory, reproducing the backend of
// spec/backend-fileserver.md item by item, hazards included.
//
// Every routed request, in this order:
//   1. admission: at the cap -> 429 `Too many requests. Slow down.` at once;
//   2. sleep the latency, holding the in-flight slot;
//   3. empty name -> 400;
//   4. the operation, under the per-name exclusion and the process-wide
//      reader/writer lock over the known-files set:
//      - DELETE takes the lock exclusively, then waits for the name;
//      - PUT waits for the name, writes the body, then takes the lock
//        exclusively to remember the name;
//      - GET waits for the name; a known name is streamed under the shared
//        lock; an unknown one is stat'ed, remembered under the exclusive
//        lock, then streamed under the shared lock.
// So a DELETE racing a PUT (or a first GET) of one name wedges the process
// for good, as the original does. Slots, names and locks of an abandoned
// request stay held until the server finishes it.
//
// With fault control on (tests only, fault_control.h), a request may also be
// refused at admission on demand, or held before or inside step 4 until a
// test releases it.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_set>

#include "fileserver/fault_control.h"
#include "fileserver/name_exclusion.h"
#include "fileserver/writer_preferring_lock.h"

namespace fsr::fileserver {

struct FileServiceOptions {
  std::string data_dir;
  std::chrono::milliseconds latency{333};
  int max_inflight = 10;
  // Serves the /_fault/ control routes (fault_control.h); tests only.
  bool fault_control = false;
};

class FileService {
 public:
  explicit FileService(FileServiceOptions options);
  FileService(const FileService&) = delete;
  FileService& operator=(const FileService&) = delete;

  // Registers every route on server. The service must outlive the server.
  void install(httplib::Server& server);

  // Requests admitted and not finished yet (a streaming GET counts until its
  // last byte is sent).
  int inflight() const { return inflight_.load(); }

 private:
  struct Call;
  friend struct Call;

  // Routes, admits and sleeps the latency. Returns nullptr when the request
  // was already answered (404, 400 or 429).
  std::unique_ptr<Call> begin(const char* method, const httplib::Request& req, httplib::Response& res);
  bool admit(int* inflight_now);
  void leave();
  // Holds the call here when its fault rule says so (fault control only).
  void hold_if_planned(Call& call, HoldStage here);

  void handle_get(const httplib::Request& req, httplib::Response& res);
  void handle_put(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& body);
  void handle_delete(const httplib::Request& req, httplib::Response& res);
  void handle_other_method(const httplib::Request& req, httplib::Response& res);

  std::string path_of(const std::string& name) const;

  const FileServiceOptions options_;
  std::unique_ptr<FaultControl> faults_;  // null unless options_.fault_control
  std::atomic<int> inflight_{0};
  std::atomic<int> deletes_waiting_for_name_{0};  // holding the exclusive lock
  NameExclusion names_;
  WriterPreferringLock known_files_lock_;
  std::unordered_set<std::string> known_files_;  // guarded by known_files_lock_
};

}  // namespace fsr::fileserver
