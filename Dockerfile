# One image for the API and the workers; the GPU worker adds TensorFlow's CUDA libraries.
FROM python:3.11-slim
ARG WITH_CUDA=0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY service service
COPY worker worker
COPY diagnosis diagnosis
RUN pip install --no-cache-dir . \
 && if [ "$WITH_CUDA" = "1" ]; then pip install --no-cache-dir "tensorflow[and-cuda]"; fi
ENV LSTM_DOCTOR_DATA_DIR=/data
EXPOSE 8000
CMD ["lstm-doctor", "api"]
