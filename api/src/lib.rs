//! Tranche API: actix-web server for sellers and buyers (built by the API issue).
