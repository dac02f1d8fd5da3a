# Two stages: build with cgo (go-sqlite3 needs it), run on a slim Debian as
# an unprivileged user with the data in a volume.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tidings ./cmd/tidings

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libcap2-bin \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/tidings --shell /usr/sbin/nologin tidings \
 && mkdir -p /var/lib/tidings && chown tidings:tidings /var/lib/tidings
COPY --from=build /out/tidings /usr/local/bin/tidings
# Bind ports below 1024 without root.
RUN setcap cap_net_bind_service=+ep /usr/local/bin/tidings
ENV TIDINGS_DATA_DIR=/var/lib/tidings \
    TIDINGS_LISTEN_ADMIN=0.0.0.0:9190
VOLUME /var/lib/tidings
WORKDIR /var/lib/tidings
USER tidings
# SMTP for incoming mail (MX)
EXPOSE 25
# Mail submission with STARTTLS
EXPOSE 587
# Mail submission over implicit TLS
EXPOSE 465
# IMAP with STARTTLS
EXPOSE 143
# IMAP over implicit TLS
EXPOSE 993
# ManageSieve
EXPOSE 4190
# XMPP clients (STARTTLS)
EXPOSE 5222
# XMPP clients (direct TLS)
EXPOSE 5223
# XMPP federation
EXPOSE 5269
# Webmail (redirects to HTTPS)
EXPOSE 80
# Webmail and admin console
EXPOSE 443
# Health and Prometheus metrics (keep it on a private network)
EXPOSE 9190
HEALTHCHECK CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9190 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ok <&3"]
ENTRYPOINT ["tidings"]
CMD ["serve"]
