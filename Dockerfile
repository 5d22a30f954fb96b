FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PORTFOLIO_SYNC_HOST=0.0.0.0 \
    PORTFOLIO_SYNC_PORT=8000 \
    PORTFOLIO_SYNC_DATABASE_URL=sqlite+aiosqlite:////data/portfolio-sync.db

RUN useradd --create-home --uid 10001 app && mkdir /data && chown app /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY connectors ./connectors
COPY service ./service
COPY migrations ./migrations
RUN pip install .

USER app
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["portfolio-sync", "serve"]
