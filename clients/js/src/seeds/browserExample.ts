import { io } from 'socket.io-client';
import { API_KEY, GATEWAY_URL } from './config.js';

// Bağlan
const socket = io(GATEWAY_URL);

// Bağlantı başarılı
socket.on('connect', () => {
  console.log('Connected:', socket.id);
});

// Job oluştur (API üzerinden)
const response = await fetch(`${GATEWAY_URL}/api/getinfo/async`, {
  method: 'POST',
  headers: {
    'Content-Type': 'application/json',
    'X-API-Key': API_KEY
  },
  body: JSON.stringify({
    url: 'https://www.netflix.com/tr/title/81616256'
  })
});

const { data: { jobId } } = await response.json();

// Job'a abone ol
socket.emit('job:subscribe', jobId);

// İlerleme dinle
socket.on('job:progress', (data) => {
  console.log(`Progress: ${data.progress}% - ${data.step}`);
});

// Tamamlanma dinle
socket.on('job:completed', (data) => {
  console.log('Completed:', data.data);
  socket.emit('job:unsubscribe', jobId);
});

// Hata dinle
socket.on('job:error', (data) => {
  console.error('Error:', data.error);
});
