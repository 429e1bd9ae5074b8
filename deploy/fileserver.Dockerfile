# The backend file server stand-in and the probe, on nothing (no shell, no
# package manager). Built by deploy/build-images.sh from a staged tree; see
# docs/deployment.md.
FROM scratch
ADD system.tar /
ADD data.tar /
ENV PATH=/usr/local/bin \
    FILESERVER_PORT=1234 \
    FILESERVER_DATA_DIR=/tmp
USER 10001:10001
EXPOSE 1234
# A file server counts every request against its cap of 10 and every
# connection against its limit of 10, so its health check sends no request
# and opens no connection: it only asks the kernel whether port 1234 listens.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/probe", "listening", "1234"]
ENTRYPOINT ["/usr/local/bin/fileserver"]
