import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// @streamproc/client is linked from ../js (file: dependency): its own node_modules would give
// it a second React and socket.io-client. dedupe makes everything resolve from this package.
export default defineConfig({
  plugins: [react()],
  resolve: {
    dedupe: ['react', 'react-dom', 'react-redux', '@reduxjs/toolkit', 'socket.io-client'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    // `npm run dev` against a gateway on :3000 (make run)
    proxy: {
      '/api': 'http://127.0.0.1:3000',
      '/socket.io': { target: 'http://127.0.0.1:3000', ws: true },
    },
  },
});
