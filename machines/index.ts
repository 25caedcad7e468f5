/** The bundled example workflows. */
export { onboardingMachine } from './onboarding.js';
