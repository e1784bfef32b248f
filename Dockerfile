FROM python:3.11-slim
WORKDIR /app
# The CPU build of torch first (a few hundred MB instead of several GB of CUDA libraries):
# the embedding model runs on the CPU. Point TORCH_INDEX_URL at a mirror if you have one.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" torch==2.13.0
COPY pyproject.toml ./
COPY chatapp chatapp
COPY latency latency
RUN pip install --no-cache-dir .
COPY . .
EXPOSE 8000
CMD ["python", "-m", "chatapp.serving", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "chatapp.asgi:application"]
