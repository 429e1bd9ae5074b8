# The router image: fsrouter, the fsjournal inspection tool and the probe, on
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
# fsrouter handles SIGTERM itself, also as PID 1: it drains, closes the
# journal and exits 0.
STOPSIGNAL SIGTERM
# Ready means the journal is recovered and the router serves.
HEALTHCHECK --interval=5s --timeout=3s --start-period=120s --retries=3 \
  CMD ["/usr/local/bin/probe", "http", "127.0.0.1:8080", "/readyz"]
ENTRYPOINT ["/usr/local/bin/fsrouter"]
