# Images for the API and the workers, from one file (docker-compose.yml picks a target):
#   api         the HTTP API: no TensorFlow (the `worker` extra is not installed)
#   worker      a CPU training worker (the `worker` extra: TensorFlow)
#   worker-gpu  a GPU training worker (TensorFlow with its CUDA libraries)
FROM python:3.11-slim AS base
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY service service
COPY worker worker
COPY diagnosis diagnosis
ENV LSTM_DOCTOR_DATA_DIR=/var/lib/lstm-doctor

FROM base AS api
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["lstm-doctor", "api"]

FROM base AS worker
RUN pip install --no-cache-dir ".[worker]"
CMD ["lstm-doctor", "worker"]

FROM base AS worker-gpu
RUN pip install --no-cache-dir ".[worker]" "tensorflow[and-cuda]"
CMD ["lstm-doctor", "worker"]
