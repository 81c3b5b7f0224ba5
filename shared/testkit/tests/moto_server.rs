//! The moto harness: parallel servers never share a port, and a taken fixed port is
//! named, not silently reused.

use std::net::{TcpListener, TcpStream};

use ferry_testkit::moto::MotoServer;

#[test]
fn servers_started_at_once_each_listen_on_their_own_port() {
    let servers: Vec<MotoServer> = std::thread::scope(|scope| {
        let starts: Vec<_> = (0..4).map(|_| scope.spawn(MotoServer::start)).collect();
        starts
            .into_iter()
            .map(|start| start.join().expect("no panic").expect("moto starts"))
            .collect()
    });
    let mut endpoints: Vec<String> = servers.iter().map(MotoServer::endpoint).collect();
    endpoints.sort();
    endpoints.dedup();
    assert_eq!(endpoints.len(), 4, "ports shared: {endpoints:?}");
    for endpoint in &endpoints {
        let address = endpoint.trim_start_matches("http://");
        TcpStream::connect(address).unwrap_or_else(|e| panic!("{endpoint} does not listen: {e}"));
    }
}

#[test]
fn a_fixed_port_in_use_is_named() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let error = MotoServer::start_on(port).err().expect("the port is taken");
    assert!(
        error
            .to_string()
            .contains(&format!("127.0.0.1:{port} is already in use")),
        "{error:#}"
    );
}
