// The Redux store of the seed's RTK Query API (@streamproc/client/rtk): its base query asks
// for the gateway's `/api` and the token the user set (sessionStorage) before every request.
import { configureStore } from '@reduxjs/toolkit';
import { baseApi, configureBaseApi } from '@streamproc/client/rtk';

import { API_BASE, loadToken } from './config';

configureBaseApi({ baseUrl: `${API_BASE}/api`, getToken: () => loadToken() || null });

export const store = configureStore({
  reducer: { [baseApi.reducerPath]: baseApi.reducer },
  middleware: (getDefault) => getDefault().concat(baseApi.middleware),
});
