/**
 * The document's CSP nonce for components that render inline scripts (root.tsx's <Scripts> and
 * <ScrollRestoration>). Provided by entry.server.tsx; empty in the browser, which hides nonces from
 * the DOM anyway.
 */
import { createContext, useContext } from "react";

export const NonceContext = createContext("");
export const useNonce = () => useContext(NonceContext);
