import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { App } from './App';
import { ApiError } from './api/client';
import { load3Dmol } from './components/Viewer3D';
import { ui } from './state/ui';
import './styles.css';

// the theme is applied as soon as it changes, before any view renders with it
const applyTheme = () => (document.documentElement.dataset.theme = ui.get().theme);
applyTheme();
ui.subscribe(applyTheme);

// the views that draw molecules: fetch the 3D library while signing in
if (/^\/(results|workspace)?(\/|$)/.test(window.location.pathname)) void load3Dmol();

const client = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      refetchOnWindowFocus: false,
      retry: (n, e) => !(e instanceof ApiError && e.status >= 400 && e.status < 500) && n < 2,
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={client}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
