import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The API serves the built app from the Python package, so `pip install` ships the UI too.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/workflow_builder/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/health": "http://127.0.0.1:8000",
      "/hooks": "http://127.0.0.1:8000",
    },
  },
});
