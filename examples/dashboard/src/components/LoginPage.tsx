/** Login with the server's auth; the token it returns is used for REST and the WebSocket. */
import { useState, type FormEvent } from 'react';
import { useAppDispatch, useAppSelector } from '../store';
import { login } from '../store/authSlice';

export function LoginPage() {
  const dispatch = useAppDispatch();
  const { status, error } = useAppSelector((s) => s.auth);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void dispatch(login({ email, password }));
  };

  return (
    <main className="login-page">
      <form className="login-card" onSubmit={submit} data-testid="login-form">
        <h1>VehicleOps</h1>
        <p className="muted">Fleet monitoring and control</p>
        <label>
          Email
          <input
            data-testid="login-email"
            type="email"
            autoComplete="username"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            required
          />
        </label>
        <label>
          Password
          <input
            data-testid="login-password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error && (
          <div className="error" role="alert" data-testid="login-error">
            {error}
          </div>
        )}
        <button type="submit" data-testid="login-submit" disabled={status === 'pending'}>
          {status === 'pending' ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
