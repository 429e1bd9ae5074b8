# The router image: fsrouter under fsrouter-supervisor, the fsjournal
# inspection tool and the probe, on
# nothing (no shell, no package manager). Built by deploy/build-images.sh from
# a staged tree; see docs/deployment.md.
FROM scratch
ADD system.tar /
ADD data.tar /
ENV PATH=/usr/local/bin \
    FSROUTER_LISTEN=0.0.0.0:8080 \
    FSROUTER_JOURNAL_DIR=/journal
USER 10001:10001
EXPOSE 8080
# fsrouter-supervisor is PID 1: it holds the listening socket, so a router
# that dies is replaced while new connections wait in the accept queue; it
# reaps, forwards SIGTERM (the router drains, closes the journal and exits 0)
# and SIGKILLs a router still running after --stop-timeout-ms, below the
# compose file's stop_grace_period. FSROUTER_* reach the router through the
# environment; its --listen must be the supervisor's address.
STOPSIGNAL SIGTERM
# Ready means the journal is recovered and the router serves.
HEALTHCHECK --interval=5s --timeout=3s --start-period=120s --retries=3 \
  CMD ["/usr/local/bin/probe", "http", "127.0.0.1:8080", "/readyz"]
ENTRYPOINT ["/usr/local/bin/fsrouter-supervisor", "--listen", "0.0.0.0:8080", "--backlog", "4096", \
            "--stop-timeout-ms", "50000", "--", "/usr/local/bin/fsrouter"]
