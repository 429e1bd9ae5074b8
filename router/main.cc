// fsrouter: the single entry point in front of 1 to 5 backend file servers.
// See docs/architecture.md for the request path, the journal and recovery;
// router/options.h for the flags, router/server.h for start and stop.
#include "router/options.h"
#include "router/server.h"

int main(int argc, char** argv) {
  fsr::router::RouterConfig config;
  if (int code = fsr::router::parse_router_config(argc, argv, &config); code >= 0) return code;
  fsr::router::RouterServer server(std::move(config));
  if (int code = server.start(); code != 0) return code;
  return server.run();
}
