# Gluon in a container: the daemon, with git, bubblewrap and socat for sandboxed agents.
#   docker build -t gluon .
# (bubblewrap needs user namespaces, which Docker's default seccomp profile blocks)
#   docker run -d --name gluon -e PUID=$(id -u) -e PGID=$(id -g) \
#     --security-opt seccomp=unconfined \
#     -e ANTHROPIC_API_KEY -v gluon-data:/data -v $HOME/src:/workspaces \
#     -v $HOME/.gitconfig:/data/.gitconfig:ro gluon
# Credentials come in as environment variables or read-only mounts; nothing is baked in.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git gh bubblewrap socat ca-certificates gosu \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir uv

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY core core
COPY mcp_tools mcp_tools
COPY bots bots
ENV UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
RUN uv sync --frozen --no-dev

ENV GLUON_HOME=/data GLUON_SERVER_HOST=0.0.0.0 PATH=/app/.venv/bin:$PATH PUID=1000 PGID=1000
VOLUME ["/data", "/workspaces"]
EXPOSE 8765

# Run as PUID:PGID so files in the volumes belong to the host user.
ENTRYPOINT ["/bin/sh", "-c", "groupadd -o -g \"$PGID\" gluon 2>/dev/null; useradd -o -u \"$PUID\" -g \"$PGID\" -d /data gluon 2>/dev/null; mkdir -p /data && chown \"$PUID:$PGID\" /data; exec gosu \"$PUID:$PGID\" \"$@\"", "--"]
CMD ["gluon", "serve"]
